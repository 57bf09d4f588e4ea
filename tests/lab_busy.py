"""lab_busy.py: pollux-lab busy --quick records the CPU of the busy and the
loop model, idle and loaded, and that the load was answered; SIGINT
mid-lesson ends every server and load it started."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t

r = t.run("busy", "--quick")
j = r.json
# The backend the loop server really ran on, from its /stats, not "default".
t.check(j.get("settings", {}).get("backend") in t.backends(),
        "settings.backend names a built backend (%r)" % j.get("settings", {}).get("backend"))
t.check(j.get("settings", {}).get("seconds") == 2, "settings.seconds: each phase's 2 s")
for m in ("busy", "loop"):
    t.keys(j, "measurements.%s.cpu_pct_idle" % m, "measurements.%s.cpu_pct_loaded" % m,
           "measurements.%s.requests" % m, "measurements.%s.errors" % m)
    try:
        t.check(t.get(j, "measurements.%s.errors" % m) == 0,
                "%s answered the steady load without an error" % m)
        t.check((t.get(j, "measurements.%s.requests" % m) or 0) > 0,
                "%s answered requests" % m)
    except KeyError:
        pass
t.interrupt("busy", "--quick")
t.done()
