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
for m in ("iterative", "threads", "loop"):
    t.keys(j, *["measurements.%s.%s" % (m, k) for k in (
        "total_s", "threads_peak", "rss_kib", "answered", "unfinished")])
for m in ("threads", "loop"):
    try:
        got = t.get(j, "measurements.%s.answered" % m)
    except KeyError:
        got = None
    t.check(got == n, "%s answered every client (%r of %r)" % (m, got, n))
try:
    it = t.get(j, "measurements.iterative")
    # Not a timing: the iterative server answers some within its run and
    # every client is either answered or still waiting at its end.
    t.check(it["answered"] is not None and it["unfinished"] is not None and
            it["answered"] > 0 and it["answered"] + it["unfinished"] <= n,
            "iterative: answered %r, unfinished %r of %r" %
            (it["answered"], it["unfinished"], n))
    t.check(it["threads_peak"] == 1, "iterative never ran a second thread")
    t.check(t.get(j, "measurements.loop.threads_peak") == 1,
            "loop held every wait on one thread")
except (KeyError, TypeError) as e:
    t.check(False, "measurements readable (%s)" % e)
t.interrupt("async", "--quick")
t.done()
