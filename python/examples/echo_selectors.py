#!/usr/bin/env python3
"""echo_selectors.py: an echo server written against the standard selectors
interface, run on a pollux backend.

    POLLUX_BACKEND=poll python3 echo_selectors.py [PORT]

Listens on 127.0.0.1:PORT (default 7007; 0 for any free port), prints the
address and the backend on one line, and sends every client back what it
sends. Only the selector's class is pollux's: replace pollux.DefaultSelector
with selectors.DefaultSelector and it is the program of the tutorials.
"""

import selectors
import signal
import socket
import sys

import pollux

DEFAULT_PORT = 7007


class Conn:
    """A client: the bytes read from it and not yet sent back."""

    __slots__ = ("sock", "pending")

    def __init__(self, sock):
        self.sock = sock
        self.pending = bytearray()


def serve(port):
    sel = pollux.DefaultSelector()     # POLLUX_BACKEND chooses the backend
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(1024)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, None)
    host, port = lsock.getsockname()
    print(f"listening on {host}:{port} (pollux backend {sel.backend})",
          flush=True)

    def drop(conn):
        sel.unregister(conn.sock)
        conn.sock.close()

    def on_readable(conn):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            drop(conn)
            return
        if not data:                   # the client closed its side
            drop(conn)
            return
        conn.pending += data
        on_writable(conn)

    def on_writable(conn):
        # send() may take less than it is given: keep the rest, and wait
        # for the socket to be writable rather than spin.
        try:
            sent = conn.sock.send(conn.pending)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            drop(conn)
            return
        del conn.pending[:sent]
        want = selectors.EVENT_WRITE if conn.pending else selectors.EVENT_READ
        sel.modify(conn.sock, want, conn)   # no system call when unchanged

    while True:
        for key, events in sel.select():
            if key.data is None:       # the listening socket
                try:
                    sock, _ = lsock.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                sock.setblocking(False)
                conn = Conn(sock)
                sel.register(sock, selectors.EVENT_READ, conn)
            elif events & selectors.EVENT_WRITE:
                on_writable(key.data)
            else:
                on_readable(key.data)


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and not argv[1].isdigit()):
        print(f"usage: {argv[0]} [PORT]", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(int(argv[1]) if len(argv) == 2 else DEFAULT_PORT)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
