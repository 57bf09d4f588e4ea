"""lab_sendfile.py: pollux-lab sendfile --quick: with sendfile the server
reads no file byte into user space, with --no-sendfile it reads at least
the file once per fetch, as its /stats count them; every fetch got the
file intact. Throughput and CPU are timings and are not asserted."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t


def interrupted_keys(lesson, required, after="pollux-server"):
    """SIGINT once `after` runs, with --json: the lesson still writes every
    required key (null where it did not measure), exits 1 and leaves
    nothing behind. labtest.interrupt() runs without --json, hence this."""
    import json, signal, time
    path = os.path.join(t.TMP, lesson + ".interrupted.json")
    p = t.start(lesson, "--quick", json_path=path)
    end = time.monotonic() + 60
    seen = False
    while time.monotonic() < end and p.poll() is None:
        if "pollux-lab" in t.exe(p.pid) and any(
                after in t.comm(x) for x in t.session_pids(p.pid) if x != p.pid):
            seen = True
            break
        time.sleep(0.02)
    t.check(seen, "%s started %s" % (lesson, after))
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    p.communicate(timeout=30)
    t.check(p.returncode == 1, "%s interrupted exits 1 (got %s)" % (lesson, p.returncode))
    left = t.wait_session_empty(p.pid)
    t.check(not left, "%s interrupted leaves no process behind" % lesson)
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        t.check(False, "%s interrupted wrote valid JSON (%s)" % (lesson, e))
        j = {}
    t.check(j.get("observed") is False, "%s interrupted is not observed" % lesson)
    t.keys(j, *required)
    return j


m = "measurements."
REQUIRED = [m + mode + "." + k for mode in ("sendfile", "readwrite") for k in (
    "mib_per_s", "server_cpu_s", "bytes_through_user_space", "syscalls",
    "fetches", "fetches_verified", "file_sent_bytes")] + [
    "settings.backend", "settings.seconds"]
r = t.run("sendfile", "--quick")
j = r.json
t.keys(j, *REQUIRED)
for line in r.out.splitlines():
    t.check(len(line) <= 80 or line.startswith(("observed:", "NOT observed:")),
            "a line of the table fits 80 columns (%d: %.40s...)" % (len(line), line))
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
# CPU is a timing and not asserted, but the verdict must not hide it.
cpu = {}
for mode, x in (("sendfile", sf), ("readwrite", rw)):
    sent = x.get("file_sent_bytes") or 0
    if isinstance(x.get("server_cpu_s"), (int, float)) and sent:
        cpu[mode] = x["server_cpu_s"] / (sent / 2**30)
if len(cpu) == 2 and cpu["sendfile"] >= cpu["readwrite"]:
    t.check("sendfile was not cheaper in CPU here" in j.get("verdict", ""),
            "the verdict says sendfile was not cheaper in CPU")
interrupted_keys("sendfile", REQUIRED)
t.done()
