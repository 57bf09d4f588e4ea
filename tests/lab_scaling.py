"""lab_scaling.py: pollux-lab scaling --quick records the fit per backend
and the requests per second per descriptor count; SIGINT mid-sweep ends
every server and load it started."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t

r = t.run("scaling", "--quick")
j = r.json
backends = t.backends()
for b in backends:
    t.keys(j, "measurements.ns_per_fd_per_wait." + b, "measurements.rps." + b)
    # The counts the lesson chose: fewer where select stops at FD_SETSIZE.
    for fds in j.get("settings", {}).get("fds", "").split(","):
        t.keys(j, "measurements.rps.%s.%s" % (b, fds))
t.interrupt("scaling", "--quick")
t.done()
