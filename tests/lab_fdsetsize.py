"""lab_fdsetsize.py: pollux-lab fdsetsize --quick records both builds of the
naive fd_set program (neither ends as if nothing happened: the fortified
one is stopped, the unfortified one overwrites memory), pollux's select
past 4,096 (or why not, on a capped build) and the scan cost per backend."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t

r = t.run("fdsetsize", "--quick")
j = r.json
m = "measurements."
t.keys(j, m + "naive.fd", m + "naive.outcome", m + "naive.signal",
       m + "naive_unfortified.fd", m + "naive_unfortified.outcome",
       m + "naive_unfortified.signal", m + "pollux_select.max_fd",
       m + "pollux_select.ok")
for b in t.backends():
    t.keys(j, m + "ns_per_fd_per_wait." + b)
meas = j.get("measurements", {})
naive = meas.get("naive", {})
t.check(naive.get("fd") == 1100, "the naive program got descriptor 1100")
t.check(naive.get("outcome") not in (None, "exited normally", "could not run"),
        "the naive fd_set program does not exit normally (%s)" % naive.get("outcome"))
if naive.get("fortified"):
    # glibc's __fdelt_chk: a fortified FD_SET past FD_SETSIZE aborts.
    t.check(naive.get("signal") == "SIGABRT", "the fortified build is killed by SIGABRT")
plain = meas.get("naive_unfortified", {})
t.check(plain.get("outcome") not in (None, "exited normally", "could not run"),
        "the unfortified build shows the out-of-bounds write (%s)" % plain.get("outcome"))
ps = meas.get("pollux_select", {})
if ps.get("capped_at_fd_setsize"):
    t.check(ps.get("ok") is False and "ERANGE" in ps.get("why_not", ""),
            "a capped select says so (ERANGE)")
t.done()
