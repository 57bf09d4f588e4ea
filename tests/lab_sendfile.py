"""lab_sendfile.py: pollux-lab sendfile --quick: with sendfile the server
reads no file byte into user space, with --no-sendfile it reads at least
the file once per fetch, as its /stats count them; every fetch got the
file intact. Throughput and CPU are timings and are not asserted."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t


m = "measurements."
REQUIRED = [m + mode + "." + k for mode in ("sendfile", "readwrite") for k in (
    "mib_per_s", "server_cpu_s", "bytes_through_user_space", "syscalls",
    "fetches", "fetches_verified", "file_sent_bytes")] + [
    "settings.backend", "settings.seconds"]
r = t.run("sendfile", "--quick")
j = r.json
t.keys(j, *REQUIRED)
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
t.interrupt_json("sendfile", REQUIRED)
t.done()
