"""A flood of connections to an SQLite book's change feed (`<db>.feed`), as anyone who may
read the book can make: many held open at once and renewed all the time, some sending
garbage, from a thread beside whatever else a test or the chaos soak does."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections import deque
from pathlib import Path


class FeedFlood:
    """`held` silent connections open at once, `burst` new ones (the oldest closed) every
    `pace` seconds; every `garbage`th one sends 64 KiB of random bytes instead, and is let
    go. Connections that fail (no daemon running, its backlog full) are counted and the
    flood goes on."""

    def __init__(self, book: Path, *, held: int, burst: int = 20, pace: float = 0.02,
                 garbage: int = 5) -> None:
        self.path = f"{book}.feed"  # tracker.readers.feed_path: the harness imports no daemon
        self.held, self.burst, self.pace, self.garbage = held, burst, pace, garbage
        self.connects = 0
        self.failures = 0
        self.sent = 0  # bytes the kernel took from the garbage senders
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="feed-flood", daemon=True)

    def start(self) -> FeedFlood:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)

    def _run(self) -> None:
        open_: deque[socket.socket] = deque()
        try:
            while not self.stopping.is_set():
                for _ in range(self.burst):
                    sock = self._connect()
                    if sock is None:
                        break
                    if self.connects % self.garbage == 0:
                        self._send_garbage(sock)
                        continue
                    open_.append(sock)
                    while len(open_) > self.held:
                        open_.popleft().close()
                self.stopping.wait(self.pace)
        finally:
            for sock in open_:
                sock.close()

    def _connect(self) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(0.5)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            self.failures += 1
            self.stopping.wait(0.05)
            return None
        self.connects += 1
        return sock

    def _send_garbage(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):  # closed by the daemon already
            self.sent += sock.send(os.urandom(64 << 10))
        sock.close()
