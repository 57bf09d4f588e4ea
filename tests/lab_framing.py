"""lab_framing.py: pollux-lab framing --quick records the unframed small and
large streams and the framed one; the small sends never come back one read
each, and the length prefix recovers every message byte for byte."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t

r = t.run("framing", "--quick")
j = r.json
t.keys(j, "measurements.small.sends", "measurements.small.reads",
       "measurements.small.boundaries_kept", "measurements.large.bytes",
       "measurements.large.reads", "measurements.framed.messages_sent",
       "measurements.framed.messages_recovered", "settings.read_buffer")
m = j.get("measurements", {})
small, large, framed = (m.get(k) or {} for k in ("small", "large", "framed"))
t.check(small.get("sends") == 1000, "the client made 1,000 small sends")
t.check(small.get("reads") != small.get("sends"),
        "small reads (%s) differ from small sends (%s)" % (small.get("reads"), small.get("sends")))
t.check(large.get("bytes") == 1 << 20, "the large message's 1 MiB all arrived")
# A 64 KiB buffer cannot take 1 MiB in one read: not a timing.
t.check(isinstance(large.get("reads"), int) and large["reads"] >= 16,
        "1 MiB took at least 16 reads of 64 KiB (%s)" % large.get("reads"))
t.check(framed.get("messages_sent") == 1001, "1,001 framed messages sent")
t.check(framed.get("messages_recovered") == framed.get("messages_sent"),
        "every framed message recovered byte for byte")
t.check(r.rc == 0 and j.get("observed") is True, "framing observed")
# Also with the scanning backends: framing does not depend on the poller.
for b in t.backends():
    if b != "epoll":
        rb = t.run("framing", "--quick", "-b", b)
        fb = rb.json.get("measurements", {}).get("framed") or {}
        t.check(fb.get("messages_recovered") == 1001, "framed recovered all on %s" % b)
t.done()
