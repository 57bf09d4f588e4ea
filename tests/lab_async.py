"""lab_async.py: pollux-lab async --quick records, for the iterative, the
threads and the loop model, the time to the last answer, the peak of
threads and memory; threads and loop answer every client; SIGINT while the
iterative server sleeps in a handler ends everything."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t

r = t.run("async", "--quick")
j = r.json
n = j.get("settings", {}).get("clients")
st = j.get("settings", {})
t.check(st.get("backend") in t.backends(), "settings.backend names a built backend (%r)"
        % st.get("backend"))
t.check(st.get("memory") == "vmrss_peak", "settings.memory says rss_kib is the VmRSS peak")
for m in ("iterative", "threads", "loop"):
    t.keys(j, *["measurements.%s.%s" % (m, k) for k in (
        "total_s", "threads_peak", "rss_kib", "answered", "unfinished", "failed")])
for m in ("threads", "loop"):
    try:
        got = t.get(j, "measurements.%s.answered" % m)
    except KeyError:
        got = None
    t.check(got == n, "%s answered every client (%r of %r)" % (m, got, n))
try:
    it = t.get(j, "measurements.iterative")
    # Not a timing: every client is answered, failed or still waiting at
    # the end of the iterative server's run; none fails.
    t.check(None not in (it["answered"], it["unfinished"], it["failed"]) and
            it["answered"] + it["unfinished"] + it["failed"] == n and it["failed"] == 0,
            "iterative: answered %r, unfinished %r, failed %r of %r" %
            (it["answered"], it["unfinished"], it["failed"], n))
    t.check(it["threads_peak"] == 1, "iterative never ran a second thread")
    t.check(t.get(j, "measurements.loop.threads_peak") == 1,
            "loop held every wait on one thread")
except (KeyError, TypeError) as e:
    t.check(False, "measurements readable (%s)" % e)
t.interrupt("async", "--quick")
t.done()
