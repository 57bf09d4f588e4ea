"""lab_sendfile.py: pollux-lab sendfile --quick: with sendfile the server
reads no file byte into user space, with --no-sendfile it reads at least
the file once per fetch, as its /stats count them; every fetch got the
file intact. Throughput and CPU are timings and are not asserted."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t

r = t.run("sendfile", "--quick")
j = r.json
m = "measurements."
for mode in ("sendfile", "readwrite"):
    t.keys(j, *(m + mode + "." + k for k in (
        "mib_per_s", "server_cpu_s", "bytes_through_user_space", "syscalls",
        "fetches", "fetches_verified", "file_sent_bytes")))
meas = j.get("measurements", {})
sf = meas.get("sendfile", {})
rw = meas.get("readwrite", {})
size = j.get("settings", {}).get("file_bytes", 0)
t.check(sf.get("bytes_through_user_space") == 0,
        "sendfile moves 0 bytes through user space (%s)" % sf.get("bytes_through_user_space"))
ub = rw.get("bytes_through_user_space")
t.check(isinstance(ub, (int, float)) and ub >= size * rw.get("fetches", 1),
        "read+write reads the file once per fetch at least (%s)" % ub)
for mode, x in (("sendfile", sf), ("readwrite", rw)):
    t.check(x.get("fetches", 0) > 0 and x.get("fetches_verified") == x.get("fetches"),
            "%s: every fetch got the file intact" % mode)
    t.check(x.get("file_sent_bytes") == size * x.get("fetches", 0),
            "%s: the server sent the file once per fetch" % mode)
t.done()
