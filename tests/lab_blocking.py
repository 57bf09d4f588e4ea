"""lab_blocking.py: pollux-lab blocking --quick measures every model (each
answers every client of the burst, the slow one included), records the
waits, the memory, threads and processes with idle connections held, and
leaves no server, thread or forked child behind; SIGINT mid-lesson (while
a forking server holds its children) ends everything it started."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t

r = t.run("blocking", "--quick")
j = r.json
n = j.get("settings", {}).get("clients")
t.check(n == 100, "settings.clients is 100 (got %r)" % n)
# The backend the loop server really ran on, from its /stats, not "default".
t.check(j.get("settings", {}).get("backend") in t.backends(),
        "settings.backend names a built backend (%r)" % j.get("settings", {}).get("backend"))
t.check(j.get("settings", {}).get("memory") == "pss", "settings.memory says rss_kib is PSS")
for m in ("iterative", "threads", "fork", "loop"):
    base = "measurements.models." + m
    t.keys(j, *[base + "." + k for k in (
        "answered", "first_reply_ms_max", "rps", "rss_kib", "rss_kib_0",
        "kib_per_conn", "threads", "processes", "idle_held")])
    try:
        got = t.get(j, base + ".answered")
    except KeyError:
        got = None
    t.check(got == n, "%s answered every client (%r of %r)" % (m, got, n))
try:
    mm = t.get(j, "measurements.models")
    # Facts, not timings: a server that blocks in recv holds one
    # connection on one thread; a thread or a process per connection has
    # one per connection it holds.
    t.check(mm["iterative"]["threads"] == 1 and mm["iterative"]["idle_held"] == 1,
            "iterative holds one connection on one thread")
    th = mm["threads"]
    t.check(th["threads"] is not None and th["idle_held"] is not None and
            th["threads"] >= th["idle_held"] > 0,
            "threads: a thread per held connection (%r threads, %r held)" %
            (th["threads"], th["idle_held"]))
    fk = mm["fork"]
    t.check(fk["processes"] is not None and fk["idle_held"] is not None and
            fk["processes"] >= fk["idle_held"] > 0,
            "fork: a process per held connection (%r processes, %r held)" %
            (fk["processes"], fk["idle_held"]))
    t.check(mm["loop"]["threads"] == 1 and mm["loop"]["processes"] == 1,
            "loop: one thread, one process")
except (KeyError, TypeError) as e:
    t.check(False, "measurements.models readable (%s)" % e)
t.interrupt("blocking", "--quick", after="--model fork")
t.done()
