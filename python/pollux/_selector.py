"""PolluxSelector: a selectors.BaseSelector over libpollux, on any backend."""

import selectors
from collections.abc import Mapping

from . import _pollux

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE
_ALL = EVENT_READ | EVENT_WRITE

_FEATURE_NAMES = (
    (_pollux.FEAT_EDGE, "edge"),
    (_pollux.FEAT_O1, "o1"),
    (_pollux.FEAT_NOLIMIT, "nolimit"),
)


def backends():
    """The backends built into libpollux, best first, as a tuple of names."""
    return _pollux.backends()


def version():
    """The version of the libpollux in use."""
    return _pollux.version()


def _fd_of(fileobj):
    """fileobj's descriptor: an int as it is, else its fileno()."""
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class _KeyView(Mapping):
    """The read-only view get_map() returns: file object or fd -> key."""

    __slots__ = ("_sel",)

    def __init__(self, sel):
        self._sel = sel

    def __len__(self):
        return len(self._sel._keys)

    def __iter__(self):
        return iter(self._sel._keys)

    def __getitem__(self, fileobj):
        sel = self._sel
        fd = sel._lookup(fileobj)
        return sel._keys[fd]


class PolluxSelector(selectors.BaseSelector):
    """A selector over one libpollux poller.

    backend is a pollux backend name ("select", "poll", "epoll", "kqueue",
    "uring"), or None (or "auto") for POLLUX_BACKEND if set, else the
    library's automatic choice. Events are reported as CPython's
    PollSelector reports them.
    """

    # The C type, looked up on the class so that a test can replace it.
    _poller_cls = _pollux.Poller

    def __init__(self, backend=None):
        self._poller = self._poller_cls(backend)
        self._keys = {}
        self._view = _KeyView(self)

    # -- what only pollux has --------------------------------------------
    @property
    def backend(self):
        """The name of the backend in use ("epoll", "poll", ...)."""
        return self._poller.backend

    @property
    def features(self):
        """What the backend can do: a frozenset of "edge", "o1", "nolimit"."""
        bits = self._poller.features
        return frozenset(name for bit, name in _FEATURE_NAMES if bits & bit)

    def wake(self):
        """Makes a select() in progress in another thread return early."""
        self._poller.wake()

    def reinit(self):
        """Gives a child process after fork() kernel state of its own."""
        self._poller.reinit()

    # -- selectors.BaseSelector ------------------------------------------
    def _lookup(self, fileobj):
        """fileobj's fd, also for a registered file object that is closed
        now (its fileno() fails): the key remembers it."""
        try:
            return _fd_of(fileobj)
        except ValueError:
            for key in self._keys.values():
                if key.fileobj is fileobj:
                    return key.fd
            raise

    def register(self, fileobj, events, data=None):
        if not events or events & ~_ALL:
            raise ValueError(f"Invalid events: {events!r}")
        fd = self._lookup(fileobj)
        if fd in self._keys:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._poller.add(fd, events, key)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj):
        fd = self._lookup(fileobj)
        key = self._keys.get(fd)
        if key is None:
            raise KeyError(f"{fileobj!r} is not registered")
        try:
            self._poller.delete(fd)
        except OSError:
            # As CPython's selectors: the descriptor may have been closed
            # (or its number reused) since it was registered.
            pass
        # Only now: a RuntimeError (the selector is in select() in another
        # thread) leaves the registration as it was, on both sides.
        del self._keys[fd]
        return key

    def modify(self, fileobj, events, data=None):
        try:
            key = self._keys[self._lookup(fileobj)]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        if events == key.events and data is key.data:
            return key
        if not events or events & ~_ALL:
            raise ValueError(f"Invalid events: {events!r}")
        new = key._replace(events=events, data=data)
        try:
            self._poller.modify(key.fd, events, new)
        except RuntimeError:
            raise       # refused while another thread waits: nothing changed
        except BaseException:
            # The registration is in an unknown state: drop it, as
            # CPython's selectors do (bpo-30014).
            self.unregister(fileobj)
            raise
        self._keys[key.fd] = new
        return new

    def select(self, timeout=None):
        return self._poller.select(timeout)

    def close(self):
        self._poller.close()
        self._keys.clear()
        self._view = None

    def get_key(self, fileobj):
        view = self._view
        if view is None:
            raise RuntimeError("Selector is closed")
        try:
            return view[fileobj]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None

    def get_map(self):
        return self._view

    def __repr__(self):
        state = "closed" if self._view is None else f"{len(self._keys)} registered"
        return f"<{type(self).__name__} backend={self.backend!r} {state}>"


class DefaultSelector(PolluxSelector):
    """PolluxSelector with the library's choice (POLLUX_BACKEND, if set)."""

    def __init__(self):
        super().__init__(None)
