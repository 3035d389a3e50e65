"""The SQLite book's change feed: a Unix socket beside the book, `<db>.feed`, on which the
daemon writes one line per commit, `{"seq": N}` (the journal's highest seq), to every reader
connected. It is to an SQLite book what NOTIFY on `tracker_book` is to a PostgreSQL one: a
reader woken by it reads the book at once, instead of polling on a timer, and sleeps
otherwise (`tracker.readers.Wakeup` is the client side).

A wake-up only ever says "read now": the book stays the truth. So the feed never holds up
the writer: a reader that does not take its lines is dropped once they pile up (it
reconnects), and a book whose socket cannot be made (a path too long for a Unix socket, a
directory the daemon cannot write) is served without one, readers falling back to their
timers.

Nor can anyone who may connect take from the daemon what the book's writing needs: the
exchange's connections, the book's files and /metrics share the process's descriptors with
the feed. So the feed holds at most `readers_max` readers, a share of the descriptors the
process may open, and closes a connection beyond it at once; a reader that sends anything
(the feed is one-way) is closed after one small read; connections are taken at a bounded
rate, the rest waiting in the socket's backlog; and when accepting fails for want of
descriptors, it stops accepting for a while instead of trying again at once. Each of these
is logged once as it starts and once as it ends, however many connections a flood makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import stat
import time
from collections import Counter
from pathlib import Path
from typing import Any

import structlog

from tracker.readers import feed_path

log = structlog.get_logger("tracker.feed")  # the `logger` of its log lines
BACKLOG_LIMIT = 64 << 10  # bytes unread by one reader before it is dropped
READERS_MAX = 256  # readers at once; fewer where the descriptor limit is low
NOFILE_SHARE = 4  # the feed holds at most 1/4 of the process's descriptors
SPOKEN_READ = 64  # bytes read from a reader that sends, before it is closed
ACCEPTS_PER_TURN = 64  # connections taken before the loop serves its other work again
# Connections taken a second, at most: each costs the daemon some 250 us, so a client that
# connects (and sends, or is refused) in a tight loop costs the daemon some 5% of a core,
# and the 256 readers of a restart still connect within 1.5 s.
ACCEPTS_PER_SECOND = 200
QUIET_SECONDS = 10.0  # an episode (of refusals, say) ends this long after its last instance
PAUSE_FIRST, PAUSE_MAX = 0.1, 2.0  # seconds not accepting when accept() itself fails


def readers_max(nofile: int) -> int:
    """READERS_MAX, or less where the soft descriptor limit `nofile` would leave the rest of
    the daemon short (RLIM_INFINITY is no limit)."""
    if nofile == resource.RLIM_INFINITY:
        return READERS_MAX
    return max(1, min(READERS_MAX, nofile // NOFILE_SHARE))


class Episode:
    """Something a flood repeats (a refused connection, a reader that sent): one log line
    as it starts, one with its count once QUIET_SECONDS pass without it, never one per
    instance, which a flood would make a flood of log lines."""

    def __init__(self, event: str, counted: str, **said: Any) -> None:
        self.event = event
        self.counted = counted  # what the summary calls its count
        self.said = said
        self.count = 0
        self.started: float | None = None
        self.last = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def note(self, **now: Any) -> None:
        self.last = time.monotonic()
        self.count += 1
        if self.started is None:
            self.started, self.count = self.last, 1
            log.warning(self.event, **now, **self.said)
            self.timer = asyncio.get_running_loop().call_later(QUIET_SECONDS, self._check)

    def _check(self) -> None:
        quiet_for = time.monotonic() - self.last
        if quiet_for < QUIET_SECONDS:
            self.timer = asyncio.get_running_loop().call_later(
                QUIET_SECONDS - quiet_for, self._check)
        else:
            self.end()

    def end(self) -> None:
        """The summary, if an episode is under way (at the quiet time, or the feed's end)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.started is not None:
            log.info(f"{self.event}_ended", **{self.counted: self.count},
                     seconds=round(self.last - self.started, 1))
            self.started = None


class _Reader(asyncio.BufferedProtocol):
    """One reader's connection. Readers say nothing: the first bytes one sends end it, read
    into a small buffer, so that a sender costs the daemon one short read."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.feed.readers.add(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.feed.scratch

    def buffer_updated(self, nbytes: int) -> None:
        assert self.transport is not None
        self.feed.close_reader(self.transport, "sent")

    def eof_received(self) -> bool:
        return False  # the reader left: the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.feed.readers.discard(self.transport)


class Feed:
    def __init__(self, path: Path, sock: socket.socket, nofile: int) -> None:
        self.path = path
        self.sock = sock
        self.inode = 0  # the socket this feed made: close removes only that one
        self.readers_max = readers_max(nofile)
        self.readers: set[asyncio.Transport] = set()
        self.joining: set[asyncio.Task[Any]] = set()  # accepted, not yet readers
        self.scratch = memoryview(bytearray(SPOKEN_READ))  # what senders' bytes are read into
        self.pause = PAUSE_FIRST  # the next pause after a failed accept
        self.resume: asyncio.TimerHandle | None = None  # while not accepting
        self.tokens = float(ACCEPTS_PER_TURN)  # accepts allowed now (ACCEPTS_PER_SECOND)
        self.tokens_at = time.monotonic()
        # Why the daemon ends a reader's connection (/metrics counts each), and how.
        self.episodes = {
            "readers_max": Episode(
                "feed_readers_capped", "refused", readers_max=self.readers_max,
                effect="connections beyond it are closed at once; readers left out read "
                       "the book on their timers"),
            "sent": Episode("feed_reader_sent", "closed",
                            effect="closed at once: readers of the feed send nothing"),
            "backlog": Episode("feed_reader_dropped", "dropped", backlog_bytes=BACKLOG_LIMIT,
                               effect="it reconnects and reads the book again")}
        self.closed: Counter[str] = Counter(dict.fromkeys(self.episodes, 0))
        self.starved = Episode("feed_accept_failed", "failures",
                               effect=f"not accepting readers for up to {PAUSE_MAX:g} s at "
                                      "a time")

    @classmethod
    async def open(cls, book: Path) -> Feed | None:
        """Listen beside `book`, connectable by whoever may read the book. The caller holds
        the book's lock, so a socket already at the path is a killed daemon's: replaced."""
        path = feed_path(book)
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if path.is_socket():
                path.unlink()
            sock.setblocking(False)
            sock.bind(str(path))
            feed = cls(path, sock, nofile)
            os.chmod(path, _connectable_by_readers_of(book))
            feed.inode = path.stat().st_ino
            sock.listen(ACCEPTS_PER_TURN)
        except (OSError, UnicodeError) as exc:
            sock.close()
            log.warning("feed_unavailable", path=str(path), error=str(exc),
                        effect="readers of the book poll on their timers instead")
            return None
        if feed.readers_max < READERS_MAX:
            log.warning("feed_readers_limited", readers_max=feed.readers_max,
                        nofile_limit=nofile, effect=f"raise the limit on open files to "
                        f"{READERS_MAX * NOFILE_SHARE} or more (LimitNOFILE=, ulimit -n) "
                        f"for {READERS_MAX} readers")
        feed.listen()
        return feed

    def listen(self) -> None:
        self.resume = None
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._accept)

    def announce(self, seq: int) -> None:
        """One line to every reader; never waits for any of them."""
        line = b'{"seq": %d}\n' % seq
        for transport in list(self.readers):
            if transport.get_write_buffer_size() > BACKLOG_LIMIT:
                self.close_reader(transport, "backlog")
            else:
                transport.write(line)

    def close_reader(self, transport: asyncio.Transport | None, reason: str,
                     **now: Any) -> None:
        """End a reader's connection (None: one refused before it was taken as a reader),
        counted and, once an episode, logged."""
        self.closed[reason] += 1
        if transport is not None:
            self.readers.discard(transport)
            transport.abort()
        self.episodes[reason].note(**now)

    def _accept(self) -> None:
        """Take what connected, a few dozen at most before the loop's other work and no
        more than ACCEPTS_PER_SECOND: a reader within readers_max, or closed at once."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        self.tokens = min(float(ACCEPTS_PER_TURN),
                          self.tokens + (now - self.tokens_at) * ACCEPTS_PER_SECOND)
        self.tokens_at = now
        if self.tokens < 1:
            self._stop_accepting((1 - self.tokens) / ACCEPTS_PER_SECOND)
            return
        for _ in range(int(self.tokens)):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:  # out of descriptors (EMFILE, ENFILE) or memory
                self._starved(exc)
                return
            self.tokens -= 1
            self.pause = PAUSE_FIRST
            if len(self.readers) + len(self.joining) >= self.readers_max:
                conn.close()
                self.close_reader(None, "readers_max",
                                  readers=len(self.readers) + len(self.joining))
                continue
            task = loop.create_task(self._join(conn))
            self.joining.add(task)
            task.add_done_callback(self.joining.discard)

    async def _join(self, conn: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: _Reader(self), conn)
        except OSError:
            conn.close()

    def _starved(self, exc: OSError) -> None:
        """Linux reports the socket readable as long as a connection waits: a while without
        accepting, longer each time it fails again, instead of a spin of failed accepts."""
        self.starved.note(error=exc.strerror)
        self._stop_accepting(self.pause)
        self.pause = min(self.pause * 2, PAUSE_MAX)

    def _stop_accepting(self, seconds: float) -> None:
        """Connections wait in the socket's backlog meanwhile (and a connect beyond it waits
        for room, or fails at once if the client asked not to wait)."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.sock.fileno())
        self.resume = loop.call_later(seconds, self.listen)

    async def close(self) -> None:
        if self.resume is not None:
            self.resume.cancel()
        else:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()
        for task in self.joining:
            task.cancel()
        await asyncio.gather(*self.joining, return_exceptions=True)
        for transport in list(self.readers):
            transport.abort()
        self.readers.clear()
        for episode in (*self.episodes.values(), self.starved):
            episode.end()
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self.inode:  # not a later daemon's, on a new book
                self.path.unlink()


def _connectable_by_readers_of(book: Path) -> int:
    """Connecting to a Unix socket takes write permission on it: read and write for each of
    owner, group and others who may read the book."""
    mode = stat.S_IMODE(book.stat().st_mode)
    return sum(0o6 << shift for shift in (6, 3, 0) if mode & (0o4 << shift))
