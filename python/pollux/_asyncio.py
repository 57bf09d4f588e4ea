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
    if hasattr(asyncio, "Runner"):      # Python 3.11 and later
        with asyncio.Runner(debug=debug, loop_factory=lambda:
                            new_event_loop(backend)) as runner:
            return runner.run(main)
    # Before 3.11: what asyncio.run() does, with our loop.
    loop = new_event_loop(backend)
    try:
        asyncio.set_event_loop(loop)
        if debug is not None:
            loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            tasks = asyncio.all_tasks(loop)
            for t in tasks:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*tasks,
                                                   return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
