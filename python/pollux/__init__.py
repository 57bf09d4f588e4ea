"""pollux: the selectors and asyncio interfaces over libpollux, so that one
Python program runs on select, poll, epoll, kqueue or io_uring, chosen by
name or with POLLUX_BACKEND. See pollux-python(3)."""

from ._pollux import FEAT_EDGE, FEAT_NOLIMIT, FEAT_O1
from ._selector import (EVENT_READ, EVENT_WRITE, DefaultSelector,
                        PolluxSelector, backends, version)
from ._asyncio import EventLoopPolicy, install, new_event_loop, run

__all__ = [
    "EVENT_READ", "EVENT_WRITE", "FEAT_EDGE", "FEAT_NOLIMIT", "FEAT_O1",
    "DefaultSelector", "EventLoopPolicy", "PolluxSelector", "backends",
    "install", "new_event_loop", "run", "version",
]
