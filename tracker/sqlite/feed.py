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
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from pathlib import Path

import structlog

from tracker.readers import feed_path

log = structlog.get_logger("tracker.feed")  # the `logger` of its log lines
BACKLOG_LIMIT = 64 << 10  # bytes unread by one reader before it is dropped


class Feed:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.server: asyncio.Server | None = None
        self.inode = 0  # the socket this feed made: close removes only that one
        self.readers: set[asyncio.StreamWriter] = set()
        self.dropped = 0

    @classmethod
    async def open(cls, book: Path) -> Feed | None:
        """Listen beside `book`, connectable by whoever may read the book. The caller holds
        the book's lock, so a socket already at the path is a killed daemon's: replaced."""
        path = feed_path(book)
        try:
            if path.is_socket():
                path.unlink()
            feed = cls(path)
            feed.server = await asyncio.start_unix_server(feed._serve, path=str(path))
            os.chmod(path, _connectable_by_readers_of(book))
            feed.inode = path.stat().st_ino
        except (OSError, UnicodeError) as exc:
            log.warning("feed_unavailable", path=str(path), error=str(exc),
                        effect="readers of the book poll on their timers instead")
            return None
        return feed

    def announce(self, seq: int) -> None:
        """One line to every reader; never waits for any of them."""
        line = b'{"seq": %d}\n' % seq
        for writer in list(self.readers):
            if writer.transport.get_write_buffer_size() > BACKLOG_LIMIT:
                self._drop(writer)
            else:
                writer.write(line)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.readers.add(writer)
        try:
            while await reader.read(4096):  # readers say nothing; EOF when they leave
                pass
        except OSError:
            pass
        finally:
            self.readers.discard(writer)
            writer.close()

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        self.dropped += 1
        self.readers.discard(writer)
        writer.transport.abort()
        log.warning("feed_reader_dropped", backlog_bytes=BACKLOG_LIMIT,
                    effect="it reconnects and reads the book again")

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.readers):
            writer.transport.abort()
        self.readers.clear()
        with contextlib.suppress(OSError):
            await self.server.wait_closed()
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self.inode:  # not a later daemon's, on a new book
                self.path.unlink()


def _connectable_by_readers_of(book: Path) -> int:
    """Connecting to a Unix socket takes write permission on it: read and write for each of
    owner, group and others who may read the book."""
    mode = stat.S_IMODE(book.stat().st_mode)
    return sum(0o6 << shift for shift in (6, 3, 0) if mode & (0o4 << shift))
