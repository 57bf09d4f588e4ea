"""lab_fdsetsize.py: pollux-lab fdsetsize --quick records both builds of the
naive fd_set program (neither ends as if nothing happened: the fortified
one is stopped, the unfortified one overwrites memory), pollux's select
past 4,096 (or why not, on a capped build) and the scan cost per backend."""
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import labtest as t


m = "measurements."
REQUIRED = [m + "naive.fd", m + "naive.outcome", m + "naive.signal",
            m + "naive_unfortified.fd", m + "naive_unfortified.outcome",
            m + "naive_unfortified.signal", m + "pollux_select.max_fd",
            m + "pollux_select.ok", "settings.backend", "settings.sweep_backends",
            "settings.seconds"] + [m + "ns_per_fd_per_wait." + b for b in t.backends()]
r = t.run("fdsetsize", "--quick")
j = r.json
t.keys(j, *REQUIRED)
meas = j.get("measurements", {})
naive = meas.get("naive", {})
t.check(naive.get("fd") == 1100, "the naive program got descriptor 1100")
t.check(naive.get("outcome") not in (None, "exited normally", "could not run"),
        "the naive fd_set program does not exit normally (%s)" % naive.get("outcome"))
if naive.get("fortified"):
    # glibc's __fdelt_chk: a fortified FD_SET past FD_SETSIZE aborts.
    t.check(naive.get("signal") == "SIGABRT", "the fortified build is killed by SIGABRT")
    t.check("fortified build killed by SIGABRT" in j.get("verdict", ""),
            "the verdict names the fortified build's abort")
else:
    # Built without optimisation (CFLAGS=-O0): glibc's check is absent, and
    # neither the label, the JSON nor the verdict may claim it.
    t.check(naive.get("fortify_level") == 0 and naive.get("signal") is None,
            "an unfortified 'fortified' copy is not killed (%s)" % naive.get("signal"))
    t.check("fortified build" not in j.get("verdict", "") and
            "glibc's check was absent" in j.get("verdict", ""),
            "the verdict says the fortified copy had no check")
    t.check("optimised" not in naive.get("build", "x optimised"),
            "the JSON build says the level was not in effect (%s)" % naive.get("build"))
plain = meas.get("naive_unfortified", {})
t.check(plain.get("outcome") not in (None, "exited normally", "could not run"),
        "the unfortified build shows the out-of-bounds write (%s)" % plain.get("outcome"))
ps = meas.get("pollux_select", {})
if ps.get("capped_at_fd_setsize"):
    t.check(ps.get("ok") is False and "ERANGE" in ps.get("why_not", ""),
            "a capped select says so (ERANGE)")
ik = t.interrupt_json("fdsetsize", REQUIRED)
t.check(ik.get("measurements", {}).get("naive", {}).get("outcome") is not None,
        "the interrupted run kept what it measured before the stop")
t.done()
