#!/usr/bin/env python3
"""echo_asyncio.py: an asyncio echo server (streams), run on a pollux backend.

    POLLUX_BACKEND=epoll python3 echo_asyncio.py [PORT]

Listens on 127.0.0.1:PORT (default 7007; 0 for any free port), prints the
address and the backend on one line, and sends every client back what it
sends. The program is plain asyncio: pollux.run() in place of asyncio.run()
puts its loop on a PolluxSelector (pollux.install() would do it for every
asyncio.run() of the program).
"""

import asyncio
import signal
import sys

import pollux

DEFAULT_PORT = 7007


async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()       # waits while the client reads slowly
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(port):
    server = await asyncio.start_server(echo, "127.0.0.1", port, backlog=1024)
    host, port = server.sockets[0].getsockname()[:2]
    backend = asyncio.get_running_loop()._selector.backend
    print(f"listening on {host}:{port} (pollux backend {backend})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and not argv[1].isdigit()):
        print(f"usage: {argv[0]} [PORT]", file=sys.stderr)
        return 2
    pollux.run(serve(int(argv[1]) if len(argv) == 2 else DEFAULT_PORT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
