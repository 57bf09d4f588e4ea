#!/usr/bin/env python3
"""python-selectors.py: what a Python selectors loop pays per select() call,
PolluxSelector against CPython's own selectors. A benchmark: it prints
numbers and never fails on them.

  loop      N connected TCP sockets on 127.0.0.1 (default 1000) registered
            for reading, B of them (default 10) kept readable (a byte sent
            and never read, so level-triggered readiness repeats): each
            select() returns B. Per select() call, median of R runs
            (default 15) of C calls (default 5000), the selectors
            alternating within each run so that drift hits all alike:
            PolluxSelector on epoll against EpollSelector, on poll against
            PollSelector, on select against SelectSelector, and uring (and
            kqueue where built) against EpollSelector.
  calls     the cost of the binding itself, on epoll: select() with one
            ready socket of one, register()+unregister(), modify() of the
            data alone; for PolluxSelector (the C extension), EpollSelector,
            and a ctypes binding of the same library sketched here, the
            other way the package could have been written.

Run from a build tree:
  PYTHONPATH=_build/python/inplace LD_LIBRARY_PATH=_build/lib/.libs \\
      python3 scripts/python-selectors.py [--fds N] [--busy B] [--runs R] \\
      [--calls C]
"""

import argparse
import ctypes
import fcntl
import os
import platform
import resource
import selectors
import socket
import statistics
import sys
import time

import pollux


def make_pairs(n):
    """n connected pairs (server side, client side). The client sides are
    moved to descriptors past 4096, so that the server sides, the ones
    registered, have the lowest numbers and stay within SelectSelector's
    FD_SETSIZE (1024) for n up to about 1000."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 + n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096 + 2 * n + 64), hard))
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1024)
    pairs = []
    for _ in range(n):
        c0 = socket.create_connection(lsock.getsockname())
        hi = fcntl.fcntl(c0.fileno(), fcntl.F_DUPFD_CLOEXEC, 4096)
        c0.close()
        c = socket.socket(fileno=hi)
        s, _ = lsock.accept()
        s.setblocking(False)
        pairs.append((s, c))
    lsock.close()
    return pairs


def per_call(sel, calls):
    """Seconds per select() call, over calls calls."""
    select = sel.select
    t0 = time.perf_counter()
    for _ in range(calls):
        select()
    return (time.perf_counter() - t0) / calls


def loop_bench(args):
    pairs = make_pairs(args.fds)
    for s, c in pairs[:: max(1, args.fds // args.busy)][: args.busy]:
        c.send(b"x")
    built = pollux.backends()
    rows = [("epoll", "EpollSelector"), ("poll", "PollSelector"),
            ("select", "SelectSelector"), ("uring", "EpollSelector"),
            ("kqueue", "EpollSelector")]
    rows = [(b, c) for b, c in rows if b in built and hasattr(selectors, c)]
    if max(s.fileno() for s, _ in pairs) >= 1024:
        print("loop: registered descriptors past 1023: no select rows")
        rows = [(b, c) for b, c in rows if c != "SelectSelector"]
    makers = {}
    for b, c in rows:
        makers[f"pollux {b}"] = (lambda b=b: pollux.PolluxSelector(b))
        makers[c] = getattr(selectors, c)
    sels = {}
    for name, make in makers.items():
        sel = make()
        for s, _ in pairs:
            sel.register(s, selectors.EVENT_READ)
        got = len(sel.select())
        if got != args.busy:
            sys.exit(f"{name}: select() returned {got}, not {args.busy}")
        sels[name] = sel
    times = {name: [] for name in sels}
    names = list(sels)
    for r in range(args.runs):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(per_call(sels[name], args.calls))
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"loop: {args.fds} sockets, {args.busy} ready, median of "
          f"{args.runs} runs x {args.calls} select() calls")
    print(f"  {'selector':<22} {'us/call':>8}   {'vs CPython':<28}")
    for b, c in rows:
        p = med[f"pollux {b}"]
        print(f"  {'PolluxSelector ' + b:<22} {p * 1e6:8.2f}   "
              f"{p / med[c]:.2f}x {c} ({med[c] * 1e6:.2f} us)")
    for sel in sels.values():
        sel.close()
    for s, c in pairs:
        s.close()
        c.close()


# ---- a ctypes binding, for the comparison only ----------------------------
class _Ev(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_uint),
                ("data", ctypes.c_void_p)]


class CtypesSelector:
    """The least a ctypes PolluxSelector would do per call: validation and
    the key map in Python as PolluxSelector has them, the wait through
    ctypes, the result list built in Python."""

    def __init__(self, lib, backend):
        self.lib = lib
        self.p = lib.pollux_new(backend.encode())
        self.keys = {}
        self.ev = (_Ev * 64)()

    def register(self, fileobj, events, data=None):
        if not events or events & ~3:
            raise ValueError("Invalid events")
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        if fd in self.keys:
            raise KeyError(fd)
        key = selectors.SelectorKey(fileobj, fd, events, data)
        if self.lib.pollux_add(self.p, fd, events, None) < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        self.keys[fd] = key
        return key

    def unregister(self, fileobj):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = self.keys.pop(fd)
        self.lib.pollux_del(self.p, fd)
        return key

    def modify(self, fileobj, events, data=None):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = self.keys[fd]
        if events != key.events:
            self.lib.pollux_mod(self.p, fd, events, None)
        key = self.keys[fd] = key._replace(events=events, data=data)
        return key

    def select(self, timeout=None):
        ns = -1 if timeout is None else max(0, int(timeout * 1e9))
        n = self.lib.pollux_wait_ns(self.p, self.ev, 64, ns)
        if n < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        ready = []
        keys = self.keys
        for i in range(n):
            e = self.ev[i]
            key = keys.get(e.fd)
            if key:
                ev = e.events
                r = (1 if ev & ~2 else 0) | (2 if ev & ~1 else 0)
                ready.append((key, r & key.events))
        return ready

    def close(self):
        self.lib.pollux_free(self.p)


def load_ctypes():
    lib = ctypes.CDLL("libpollux.so.0", use_errno=True)
    lib.pollux_new.restype = ctypes.c_void_p
    lib.pollux_new.argtypes = [ctypes.c_char_p]
    lib.pollux_free.argtypes = [ctypes.c_void_p]
    for f in (lib.pollux_add, lib.pollux_mod):
        f.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint,
                      ctypes.c_void_p]
    lib.pollux_del.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.pollux_wait_ns.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Ev),
                                   ctypes.c_int, ctypes.c_longlong]
    return lib


def calls_bench(args):
    lib = load_ctypes()
    a, b = socket.socketpair()
    b.send(b"x")
    other, _ = socket.socketpair()
    makers = [("PolluxSelector (C extension)", lambda: pollux.PolluxSelector("epoll")),
              ("ctypes binding (sketch)", lambda: CtypesSelector(lib, "epoll")),
              ("CPython EpollSelector", selectors.EpollSelector)]
    n = args.calls
    res = {}
    for r in range(args.runs):
        for name, make in (makers if r % 2 == 0 else makers[::-1]):
            sel = make()
            sel.register(a, selectors.EVENT_READ)
            t0 = time.perf_counter()
            for _ in range(n):
                sel.select()
            t1 = time.perf_counter()
            for _ in range(n):
                sel.register(other, selectors.EVENT_READ)
                sel.unregister(other)
            t2 = time.perf_counter()
            for i in range(n):
                sel.modify(a, selectors.EVENT_READ, i)
            t3 = time.perf_counter()
            sel.close()
            res.setdefault(name, []).append(((t1 - t0) / n, (t2 - t1) / n,
                                             (t3 - t2) / n))
    print(f"calls on epoll: median of {args.runs} runs x {n} calls, us per call")
    print(f"  {'binding':<30} {'select 1/1':>10} {'reg+unreg':>10} {'modify data':>12}")
    for name, _ in makers:
        m = [statistics.median(x[i] for x in res[name]) * 1e6 for i in range(3)]
        print(f"  {name:<30} {m[0]:10.2f} {m[1]:10.2f} {m[2]:12.2f}")
    for s in (a, b, other):
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fds", type=int, default=1000)
    ap.add_argument("--busy", type=int, default=10)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--calls", type=int, default=5000)
    args = ap.parse_args()
    print(f"python {platform.python_version()}, libpollux {pollux.version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}", flush=True)
    loop_bench(args)
    calls_bench(args)


if __name__ == "__main__":
    main()
