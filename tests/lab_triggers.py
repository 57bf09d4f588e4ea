"""lab_triggers.py: pollux-lab triggers --quick records the three runs; on
an edge-capable backend the one-read edge handler stalls with bytes unread
while the draining one and the level-triggered one get every byte; on poll (or
select) the lesson says edge triggering is not available there, writes the
edge runs' keys as null, and exits 1."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t

RUNS = ("level", "edge_one_read", "edge_drain")
FIELDS = ("bytes_sent", "bytes_received", "wakeups", "stalled")

backends = t.backends()
if "epoll" in backends:
    r = t.run("triggers", "--quick", "-b", "epoll")
    j = r.json
    t.keys(j, "settings.bytes", "settings.backend", "settings.stall_window_s")
    for run in RUNS:
        t.keys(j, *["measurements.%s.%s" % (run, f) for f in FIELDS])
    m = j.get("measurements", {})
    lv, one, dr = (m.get(k) or {} for k in RUNS)
    t.check(one.get("stalled") is True, "edge_one_read stalled")
    t.check(isinstance(one.get("bytes_received"), int) and
            isinstance(one.get("bytes_sent"), int) and
            one["bytes_received"] < one["bytes_sent"],
            "edge_one_read left sent bytes unread (%s of %s)" %
            (one.get("bytes_received"), one.get("bytes_sent")))
    t.check(dr.get("stalled") is False, "edge_drain did not stall")
    t.check(dr.get("bytes_received") == dr.get("bytes_sent") == j["settings"]["bytes"],
            "edge_drain received every byte")
    t.check(lv.get("bytes_received") == lv.get("bytes_sent") == j["settings"]["bytes"],
            "level received every byte")
    t.check(r.rc == 0 and j.get("observed") is True, "triggers observed on epoll")
    # The senders are forked children of the lab: interrupt while one runs.
    t.interrupt("triggers", "--quick", "-b", "epoll", after="pollux-lab")
else:
    print("note: no epoll in this build; only a backend without edge triggering is run")

# A backend without edge triggering: poll, or select where it is alone.
plain = "poll" if "poll" in backends else "select"
r = t.run("triggers", "--quick", "-b", plain)
j = r.json
t.check(r.rc == 1, "triggers -b %s exits 1 (got %s)" % (plain, r.rc))
t.check(j.get("observed") is False, "triggers -b %s is not observed" % plain)
t.check("not available" in j.get("verdict", ""), "the verdict says edge is not available")
t.keys(j, *["measurements.level.%s" % f for f in FIELDS])
# The edge runs did not run: their keys are there all the same, null.
t.keys(j, *["measurements.%s.%s" % (run, f) for run in RUNS[1:] for f in FIELDS])
for run in RUNS[1:]:
    got = j.get("measurements", {}).get(run) or {}
    t.check(all(got.get(f, 0) is None for f in FIELDS),
            "%s on %s: every key null (%r)" % (run, plain, got))
lv = j.get("measurements", {}).get("level") or {}
t.check(lv.get("bytes_received") == lv.get("bytes_sent"),
        "level on %s received every byte" % plain)
t.done()
