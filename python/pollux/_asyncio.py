"""asyncio over PolluxSelector: a loop, a policy and a run() in one line."""

import asyncio

from ._selector import PolluxSelector


def new_event_loop(backend=None):
    """A new asyncio.SelectorEventLoop over PolluxSelector(backend)."""
    return asyncio.SelectorEventLoop(PolluxSelector(backend))


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """The default policy, with every new loop over PolluxSelector(backend)
    (child watchers and the rest as asyncio's own policy has them)."""

    def __init__(self, backend=None):
        super().__init__()
        self._pollux_backend = backend

    def new_event_loop(self):
        return new_event_loop(self._pollux_backend)


def install(backend=None):
    """Sets EventLoopPolicy(backend) as asyncio's policy: from then on
    asyncio.run() and asyncio.new_event_loop() use pollux."""
    asyncio.set_event_loop_policy(EventLoopPolicy(backend))


def run(main, *, backend=None, debug=None):
    """asyncio.run(main) on a loop over PolluxSelector(backend)."""
    with asyncio.Runner(debug=debug,
                        loop_factory=lambda: new_event_loop(backend)) as runner:
        return runner.run(main)
