#!/usr/bin/env python3
"""echo_select.py: the select-style echo server of the socket tutorials,
whose loop hands the whole list of sockets to a select() call each time,
with that call made by pollux.

    POLLUX_BACKEND=select python3 echo_select.py [PORT]

Listens on 127.0.0.1:PORT (default 7007; 0 for any free port), prints the
address and the backend on one line, and echoes. The loop is the
tutorials' loop over select.select(inputs, outputs, []): only the function
is a pollux one, ListSelect below, which keeps one PolluxSelector and
tells the library only what changed since the last call. With the select
or poll backend every call still costs in proportion to every socket; with
epoll, only to those that are ready (pollux-labs(7), lesson 3).
"""

import selectors
import signal
import socket
import sys

import pollux

DEFAULT_PORT = 7007


class ListSelect:
    """select(rlist, wlist, timeout) -> (readable, writable), the shape of
    select.select, over one long-lived PolluxSelector."""

    def __init__(self):
        self.sel = pollux.DefaultSelector()
        self.want = {}                 # socket -> events registered now

    def __call__(self, rlist, wlist, timeout=None):
        wanted = {}
        for s in rlist:
            wanted[s] = selectors.EVENT_READ
        for s in wlist:
            wanted[s] = wanted.get(s, 0) | selectors.EVENT_WRITE
        for s in [s for s in self.want if s not in wanted]:
            self.sel.unregister(s)
            del self.want[s]
        for s, ev in wanted.items():
            old = self.want.get(s)
            if old is None:
                self.sel.register(s, ev)
            elif old != ev:
                self.sel.modify(s, ev)
            self.want[s] = ev
        readable, writable = [], []
        for key, events in self.sel.select(timeout):
            if events & selectors.EVENT_READ:
                readable.append(key.fileobj)
            if events & selectors.EVENT_WRITE:
                writable.append(key.fileobj)
        return readable, writable


def serve(port):
    select = ListSelect()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1024)
    server.setblocking(False)
    host, port = server.getsockname()
    print(f"listening on {host}:{port} (pollux backend {select.sel.backend})",
          flush=True)

    inputs = [server]
    outputs = []
    queues = {}                        # client -> bytes to send back

    def drop(s):
        for lst in (inputs, outputs):
            if s in lst:
                lst.remove(s)
        del queues[s]
        s.close()

    while True:
        readable, writable = select(inputs, outputs)
        for s in readable:
            if s is server:
                try:
                    conn, _ = server.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                conn.setblocking(False)
                inputs.append(conn)
                queues[conn] = bytearray()
                continue
            if s not in queues:        # dropped earlier in this round
                continue
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                drop(s)
                continue
            queues[s] += data
            if s not in outputs:
                outputs.append(s)
                inputs.remove(s)       # read again once all is sent back
        for s in writable:
            if s not in queues:
                continue
            try:
                sent = s.send(queues[s])
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                drop(s)
                continue
            del queues[s][:sent]
            if not queues[s]:
                outputs.remove(s)
                inputs.append(s)


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
