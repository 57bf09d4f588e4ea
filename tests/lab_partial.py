"""lab_partial.py: pollux-lab partial --quick: the naive server that ignores
send's return value loses bytes, pollux-server loses none, and the keys of
the blocking and buffered runs are there (their waits are timings and are
not asserted); SIGINT mid-lesson ends the servers it started."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t


m = "measurements."
REQUIRED = [m + "naive.bytes_claimed", m + "naive.bytes_received", m + "naive.bytes_lost",
            m + "blocking.other_client_max_wait_ms", m + "blocking.bytes_received",
            m + "buffered.bytes_received", m + "buffered.bytes_lost",
            m + "buffered.other_client_max_wait_ms", "settings.backend",
            "settings.seconds"]
r = t.run("partial", "--quick")
j = r.json
t.keys(j, *REQUIRED)
t.check("nan" not in r.out and "nan" not in j.get("verdict", ""),
        "no 'nan' is printed for a value not measured")
meas = j.get("measurements", {})
naive = meas.get("naive", {})
buf = meas.get("buffered", {})
size = j.get("settings", {}).get("response_bytes")
t.check(isinstance(naive.get("bytes_lost"), int) and naive["bytes_lost"] > 0,
        "the naive server loses bytes (%s)" % naive.get("bytes_lost"))
t.check(naive.get("bytes_claimed") == size, "the naive server claims the whole response")
t.check(naive.get("bytes_received", 0) + naive.get("bytes_lost", 0) == size,
        "received + lost = claimed")
t.check(buf.get("bytes_lost") == 0 and buf.get("bytes_received") == size,
        "pollux-server delivers all %s bytes" % size)
t.check(buf.get("bytes_intact") == size, "and every byte is the right one")
t.interrupt("partial", "--quick")
# Stopped during pollux-server's run: the naive and blocking figures are
# kept, the buffered ones are null, and every key is there.
ik = t.interrupt_json("partial", REQUIRED)
im = ik.get("measurements", {})
t.check(im.get("naive", {}).get("bytes_lost") is not None,
        "the interrupted run kept the naive server's figures")
t.check("buffered" in im and im["buffered"].get("bytes_received", 0) is None,
        "the unfinished buffered run is null, not 0")
t.done()
