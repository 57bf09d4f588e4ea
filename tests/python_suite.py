"""python_suite.py: CPython's own selector and asyncio tests against
pollux.PolluxSelector on one backend (argv[1]).

  test.test_selectors   BaseSelectorTestCase + ScalableSelectorMixIn
  test.test_asyncio     test_events (the selector loop tests, with
                        subprocesses), test_sock_lowlevel, test_sendfile,
                        test_streams

each with the loop over PolluxSelector(backend). Exit 0 when every case
that ran passed, 1 when one failed, 77 when nothing could run (no test
package, backend not usable here). Cases this backend is not held to
(NOT_RUN, with the reason) and CPython's own skips are printed and counted
as not run, never as passed. --not-run prints the marks of the backend
and exits 77 when there are any (tests/python_notrun.sh).
"""

import errno
import os
import sys
import tempfile
import time
import unittest
import unittest.mock

SKIP = 77

# Cases a backend is not held to, with the reason outside pollux. Keyed by
# backend, then by "Class.test_name" as this driver names its classes.
#
# kqueue here is libkqueue's emulation on Linux (tests/notrun.c has the
# marks of the C suites and their evidence):
# - libkqueue reads a socket's pending error with getsockopt(SO_ERROR) when
#   epoll says EPOLLERR (its read.c and write.c copyout), which clears it:
#   a non-blocking connect to a port nobody listens on is reported writable
#   with SO_ERROR 0 (poll: 111, ECONNREFUSED), so asyncio's sock_connect,
#   which reads SO_ERROR as every program does, takes it as connected. A
#   kernel kqueue copies so_error into the kevent and leaves it set.
# - libkqueue returns at most MAX_KEVENT (512) events from one kevent()
#   call (its src/common/private.h), and the kqueue backend asks again at
#   most three more times in one wait, so one select() reports at most 2048
#   ready descriptors (the next calls report the others); CPython's test
#   wants all 9984 writable sockets from a single select(). A kernel's
#   kevent() returns as many as the caller has slots for.
_KQ_SO_ERROR = ("libkqueue clears the socket's pending error (its copyout "
                "reads SO_ERROR), so a refused connect reads as SO_ERROR 0 "
                "and asyncio takes it as connected; a kernel kqueue leaves "
                "so_error set")
NOT_RUN = {
    "kqueue": {
        "SelectorTests.test_above_fd_setsize":
            "libkqueue returns at most 512 events per kevent() call "
            "(MAX_KEVENT), so one select() on kqueue reports at most 2048 "
            "(4 calls), not every one of thousands ready; a kernel kqueue "
            "returns as many as asked",
        "EventLoopTests.test_create_connection_local_addr_skip_different_family":
            _KQ_SO_ERROR,
        "SockTests.test_cancel_sock_accept": _KQ_SO_ERROR,
        "SockTests.test_sock_client_fail": _KQ_SO_ERROR,
    },
}


def usage():
    print("usage: python_suite.py BACKEND [--not-run] [-k PATTERN]",
          file=sys.stderr)
    sys.exit(2)


def main(argv):
    if len(argv) < 2:
        usage()
    backend = argv[1]
    opts = argv[2:]
    # Only libkqueue's kqueue has those limits, and on Linux a kqueue can
    # only be libkqueue (configure.ac); a BSD's kernel kqueue runs them all.
    marks = NOT_RUN.get(backend, {}) if sys.platform.startswith("linux") \
        else {}

    try:
        import pollux
    except ImportError as e:
        print(f"not run: cannot import pollux ({e})")
        return SKIP
    if backend not in pollux.backends():
        print(f"not run: backend {backend} is not built into libpollux "
              f"({', '.join(pollux.backends())})")
        return SKIP
    try:
        pollux.PolluxSelector(backend).close()
    except OSError as e:
        print(f"not run: PolluxSelector({backend!r}): {e}")
        return SKIP
    try:
        from test import support, test_selectors
        from test.test_asyncio import (test_events, test_sendfile,
                                       test_sock_lowlevel, test_streams)
        from test.test_asyncio import utils as test_utils
    except ImportError as e:
        print(f"not run: CPython's test package is not installed ({e}); "
              "on Debian: apt-get install libpython3.11-testsuite "
              "(or the one for this Python)")
        return SKIP

    classes = make_classes(backend, pollux, support, test_selectors,
                           test_events, test_sendfile, test_sock_lowlevel,
                           test_streams, test_utils)

    loader = unittest.TestLoader()
    names = {}
    for cls in classes:
        for name in loader.getTestCaseNames(cls):
            names[f"{cls.__name__}.{name}"] = cls
    stale = [m for m in marks if m not in names]
    if stale:
        print(f"python_suite: marks that name no test: {', '.join(stale)}",
              file=sys.stderr)
        return 1
    if "--not-run" in opts:
        for m, why in marks.items():
            print(f"not run: {backend}: {m}: {why}")
        return SKIP if marks else 0

    # The marked cases are replaced by a skip that says why, so that they
    # are reported as not run.
    for m, why in marks.items():
        cls_name, meth = m.split(".")
        cls = names[m]
        setattr(cls, meth, unittest.skip(f"not run on {backend}: {why}")(
            getattr(cls, meth)))

    pattern = None
    if "-k" in opts:
        pattern = opts[opts.index("-k") + 1]
    suite = unittest.TestSuite()
    for cls in classes:
        for name in loader.getTestCaseNames(cls):
            if pattern and pattern not in f"{cls.__name__}.{name}":
                continue
            suite.addTest(cls(name))

    # asyncio.new_event_loop() (test_streams makes its loops so) and
    # asyncio.run() give a loop over PolluxSelector(backend) too.
    pollux.install(backend)
    # The tests' own warnings (deprecated child watchers) are not ours.
    import warnings
    warnings.simplefilter("ignore", DeprecationWarning)

    start = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=1,
                                     durations=None) \
        if sys.version_info >= (3, 12) else \
        unittest.TextTestRunner(stream=sys.stdout, verbosity=1)
    result = runner.run(suite)
    took = time.monotonic() - start
    try:
        support.reap_children()
    except Exception:
        pass

    failed = len(result.failures) + len(result.errors) + \
        len(result.unexpectedSuccesses)
    notrun = len(result.skipped)
    passed = result.testsRun - failed - notrun - \
        len(result.expectedFailures)
    for test, why in result.skipped:
        print(f"not run: {backend}: {test.id().split('.', 1)[-1]}: {why}")
    print(f"python {backend}: {result.testsRun} cases in {took:.1f} s")
    print(f"{passed} passed, {failed} failed, {notrun} skipped")
    return 1 if failed or result.testsRun == 0 else 0


def socket_pair(test):
    import socket
    r, w = socket.socketpair()
    test.addCleanup(r.close)
    test.addCleanup(w.close)
    return r, w


def make_classes(backend, pollux, support, test_selectors, test_events,
                 test_sendfile, test_sock_lowlevel, test_streams, test_utils):
    PolluxSelector = pollux.PolluxSelector

    def check_loop(loop):
        # Every asyncio case really runs over pollux, on this backend.
        sel = getattr(loop, "_selector", None)
        if not isinstance(sel, PolluxSelector) or sel.backend != backend:
            raise AssertionError(f"loop {loop!r} is not over "
                                 f"PolluxSelector({backend!r}): {sel!r}")

    def new_loop():
        loop = pollux.new_event_loop(backend)
        check_loop(loop)
        return loop

    # CPython's tests construct SELECTOR() with no argument.
    class Selector(PolluxSelector):
        def __init__(self):
            super().__init__(backend)

    Selector.__name__ = Selector.__qualname__ = f"PolluxSelector_{backend}"

    class SelectorTests(test_selectors.BaseSelectorTestCase,
                        test_selectors.ScalableSelectorMixIn,
                        unittest.TestCase):
        # ScalableSelectorMixIn on every backend, select too: pollux's
        # select grows its bitmaps past FD_SETSIZE (where the kernel takes
        # them; a build with --disable-large-select caps it, see below).
        SELECTOR = Selector

        # Adapted: CPython's test patches the stock class's _selector_cls
        # (select.epoll, select.poll) and skips any other selector. The
        # same check here patches PolluxSelector's C poller class, and
        # reads the map through get_map() rather than the private _map.
        def test_modify_unregister(self):
            import selectors
            with unittest.mock.patch.object(PolluxSelector,
                                            "_poller_cls") as m:
                m.return_value.modify = unittest.mock.Mock(
                    side_effect=ZeroDivisionError)
                s = self.SELECTOR()
                self.addCleanup(s.close)
                rd, wr = self.make_socketpair()
                s.register(rd, selectors.EVENT_READ)
                self.assertEqual(len(s.get_map()), 1)
                with self.assertRaises(ZeroDivisionError):
                    s.modify(rd, selectors.EVENT_WRITE)
                self.assertEqual(len(s.get_map()), 0)

        # CPython's EpollSelectorTestCase.test_register_file expects
        # EPERM; pollux takes a regular file on every backend and reports
        # it ready, as select(2) and poll(2) do.
        def test_register_file(self):
            import selectors
            s = self.SELECTOR()
            self.addCleanup(s.close)
            with tempfile.NamedTemporaryFile() as f:
                key = s.register(f, selectors.EVENT_READ | selectors.EVENT_WRITE)
                self.assertEqual(s.select(0), [(key, selectors.EVENT_READ |
                                                selectors.EVENT_WRITE)])
                s.unregister(f)
                with self.assertRaises(KeyError):
                    s.get_key(f)

        # KqueueSelectorTestCase's two, which hold for every pollux backend.
        def test_register_bad_fd(self):
            import selectors
            from test.support import os_helper
            s = self.SELECTOR()
            self.addCleanup(s.close)
            bad_f = os_helper.make_bad_fd()
            with self.assertRaises(OSError) as cm:
                s.register(bad_f, selectors.EVENT_READ)
            self.assertEqual(cm.exception.errno, errno.EBADF)
            with self.assertRaises(KeyError):
                s.get_key(bad_f)

        def test_empty_select_timeout(self):
            s = self.SELECTOR()
            self.addCleanup(s.close)
            t0 = time.monotonic()
            self.assertEqual(s.select(1), [])
            dt = time.monotonic() - t0
            self.assertTrue(0.8 <= dt <= 2.0, dt)

    if "nolimit" not in PolluxSelector(backend).features:
        # select capped at FD_SETSIZE (--disable-large-select): the
        # scalability test does not apply; an fd past the cap is ERANGE.
        SelectorTests.test_above_fd_setsize = unittest.skip(
            f"{backend} is capped at FD_SETSIZE in this build "
            "(no POLLUX_FEAT_NOLIMIT)")(
            test_selectors.ScalableSelectorMixIn.test_above_fd_setsize)

    class EventLoopTests(test_events.UnixEventLoopTestsMixin,
                         test_events.SubprocessTestsMixin,
                         test_utils.TestCase):
        def create_event_loop(self):
            return new_loop()

    class SockTests(test_sock_lowlevel.BaseSockTestsMixin,
                    test_utils.TestCase):
        def create_event_loop(self):
            return new_loop()

    class SendfileTests(test_sendfile.SendfileTestsBase,
                        test_utils.TestCase):
        def create_event_loop(self):
            return new_loop()

    # StreamTests makes its loop with asyncio.new_event_loop(): the
    # pollux policy installed in main() answers, checked here.
    class StreamTests(test_streams.StreamTests):
        def setUp(self):
            super().setUp()
            check_loop(self.loop)

    # What PolluxSelector has beyond the standard selectors.
    class PolluxTests(unittest.TestCase):
        def test_backend_and_features(self):
            with PolluxSelector(backend) as s:
                self.assertEqual(s.backend, backend)
                self.assertIn(backend, pollux.backends())
                self.assertLessEqual(s.features, {"edge", "o1", "nolimit"})
                self.assertIn(backend, repr(s))

        def test_environment_chooses(self):
            with unittest.mock.patch.dict(os.environ,
                                          {"POLLUX_BACKEND": backend}):
                with pollux.DefaultSelector() as s:
                    self.assertEqual(s.backend, backend)
                with pollux.PolluxSelector("auto") as s:
                    self.assertEqual(s.backend, backend)
            with unittest.mock.patch.dict(os.environ,
                                          {"POLLUX_BACKEND": "nonesuch"}):
                with self.assertRaises(ValueError):
                    pollux.DefaultSelector()

        def test_unknown_backend(self):
            with self.assertRaises(ValueError):
                PolluxSelector("nonesuch")

        def test_wake_from_another_thread(self):
            import threading
            with PolluxSelector(backend) as s:
                r, w = socket_pair(self)
                s.register(r, 1)
                t = threading.Timer(0.05, s.wake)
                t.start()
                t0 = time.monotonic()
                # Ends at the wake-up, long before the timeout.
                self.assertEqual(s.select(30), [])
                self.assertLess(time.monotonic() - t0, 20)
                t.join()

        def test_other_thread_refused_during_select(self):
            import selectors
            import threading
            with PolluxSelector(backend) as s:
                r, w = socket_pair(self)
                s.register(r, selectors.EVENT_READ, 0)
                refused = []

                def other():
                    # Changes r's data until it happens while the main
                    # thread is inside select(): then the change must be
                    # refused, and wake() ends that select().
                    n = 0
                    while True:
                        try:
                            s.modify(r, selectors.EVENT_READ, n + 1)
                            n += 1
                        except RuntimeError as e:
                            refused.append((e, n))
                            break
                    s.wake()

                t = threading.Thread(target=other)
                t.start()
                while t.is_alive():
                    s.select(1)
                t.join()
                self.assertEqual(len(refused), 1)
                # What was refused changed nothing, on either side.
                n = refused[0][1]
                self.assertEqual(s.get_key(r).data, n)
                w.send(b"x")
                self.assertEqual(s.select(5), [(s.get_key(r),
                                                selectors.EVENT_READ)])

        def test_select_after_close(self):
            s = PolluxSelector(backend)
            s.close()
            with self.assertRaises(ValueError):
                s.select(0)
            self.assertIsNone(s.get_map())

        def test_asyncio_run(self):
            import asyncio

            async def main():
                await asyncio.sleep(0)
                return asyncio.get_running_loop()._selector.backend
            self.assertEqual(pollux.run(main(), backend=backend), backend)

    classes = [SelectorTests, PolluxTests, EventLoopTests, SockTests,
               SendfileTests, StreamTests]
    for cls in classes:
        cls.__qualname__ = cls.__name__
    return classes


if __name__ == "__main__":
    sys.exit(main(sys.argv))
