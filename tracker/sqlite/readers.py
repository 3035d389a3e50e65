"""Read-only views of an SQLite book for `tracker orders`, `status`, `healthcheck` and
`watch`.

They open the file as the README tells other readers to: read-only, short statements,
nothing held open, so they never disturb the daemon, and they read a stopped daemon's
book too.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from tracker.readers import Unavailable, Wakeup, judged, order_columns

# A watcher without the change feed (no daemon running) reads this often; with it, this is
# only the longest wait for a line.
POLL_SECONDS = 0.2
T = TypeVar("T")


def read(path: Path, query: Callable[[sqlite3.Connection], T]) -> T:
    """Run `query` on a read-only connection that is closed straight after.

    While the daemon runs, the book is read through its WAL. After a clean stop the daemon
    has removed the WAL and its shared-memory file, which a reader could only recreate with
    write access beside the book; but with no WAL the book file holds every commit, and
    SQLite reads it as immutable, creating nothing. The WAL's absence after that read shows
    no writer started meanwhile; if one did, the read is done again through the WAL.
    """
    if not path.exists():
        raise Unavailable(f"no book at {path} (is the daemon configured with this db?)")
    if path.is_dir():
        raise Unavailable(f"{path} is a directory, not a book file")
    wal = Path(f"{path}-wal")
    try:
        if not wal.exists():
            result = _query(path, "mode=ro&immutable=1", query)
            if not wal.exists():
                return result
        return _query(path, "mode=ro", query)
    except sqlite3.Error as exc:
        raise Unavailable(f"cannot read {path}: {exc}") from None


def _query(path: Path, mode: str, query: Callable[[sqlite3.Connection], T]) -> T:
    # Percent-encoded: in a URI a '?', '#' or '%' in the path would change its meaning.
    conn = sqlite3.connect(f"file:{quote(str(path))}?{mode}", uri=True, timeout=2.0,
                           isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        # One read transaction: every statement of `query` sees the same commit, so a count
        # cannot disagree with the rows or the state shown beside it.
        conn.execute("BEGIN")
        conn.execute("SELECT 1 FROM sync_state").fetchone()
        return query(conn)
    finally:
        conn.close()


def open_orders(path: Path, symbol: str | None = None) -> list[dict[str, Any]]:
    return read(path, lambda conn: _open_orders(conn, symbol))


def _open_orders(conn: sqlite3.Connection, symbol: str | None) -> list[dict[str, Any]]:
    schema = conn.execute("PRAGMA user_version").fetchone()[0]
    sql = f"SELECT {order_columns(schema)} FROM open_orders"
    args: tuple[str, ...] = ()
    if symbol:
        sql += " WHERE symbol = ?"
        args = (symbol,)
    sql += " ORDER BY symbol, created_at, order_id"
    return [dict(r) for r in conn.execute(sql, args).fetchall()]


def seen_symbol(path: Path, symbol: str) -> bool:
    """Whether the book ever held an order of `symbol`, open or not."""
    return read(path, lambda conn: conn.execute(
        "SELECT 1 FROM orders WHERE symbol = ? LIMIT 1", (symbol,)).fetchone() is not None)


def _state(conn: sqlite3.Connection) -> dict[str, Any]:
    state = dict(conn.execute("SELECT * FROM sync_state WHERE id = 1").fetchone())
    state["open_orders"] = conn.execute("SELECT COUNT(*) FROM open_orders").fetchone()[0]
    state["schema"] = conn.execute("PRAGMA user_version").fetchone()[0]
    return state


def status(path: Path) -> dict[str, Any]:
    """The `sync_state` row and the open-order count from one read, as `judged` gives them,
    by this host's clock: the daemon's too, since an SQLite book has its writer on the host
    that reads it (a clock that jumps back makes its last heartbeat one from the future
    until the next commit, a second later)."""
    return judged(read(path, _state), int(time.time() * 1000), held=locked(path))


def locked(path: Path) -> bool:
    """Whether a daemon holds the book's writer lock (the flock on `<db>.seq`) now, as
    Linux's /proc/locks shows it, without touching the lock (a reader that took it, even
    for an instant, could make a daemon starting then refuse the book as in use). A daemon
    stopped with SIGSTOP, or frozen, holds it while it writes nothing: it is stalled, not
    gone. False where the lock cannot be seen (no such file, another system)."""
    try:
        seq = os.stat(f"{path}.seq")
        table = Path("/proc/locks").read_text()
    except OSError:
        return False
    held = f"{os.major(seq.st_dev):02x}:{os.minor(seq.st_dev):02x}:{seq.st_ino}"
    # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2147846 0 EOF"; a waiter's line has "->" after
    # the number, and is no holder.
    return any(f[1:2] == ["FLOCK"] and f[5:6] == [held]
               for f in (line.split() for line in table.splitlines()))


@dataclass(frozen=True)
class SqliteReader:
    """An SQLite book as the read-only commands ask it."""

    path: Path

    def open_orders(self, symbol: str | None) -> tuple[list[dict[str, Any]], bool]:
        """The open orders (of `symbol`), and whether the book ever held one of `symbol`."""
        rows = open_orders(self.path, symbol)
        return rows, bool(rows) or not symbol or seen_symbol(self.path, symbol)

    def status(self) -> dict[str, Any]:
        return status(self.path)

    def follower(self) -> SqliteFollower:
        return SqliteFollower(self.path)


@dataclass
class SqliteJournal:
    """`tracker watch`'s questions about the journal, inside one read."""

    conn: sqlite3.Connection

    def book_id(self) -> str | None:
        return self.conn.execute("SELECT book_id FROM sync_state WHERE id = 1").fetchone()[0]

    def bounds(self) -> tuple[int | None, int]:
        low, high = self.conn.execute("SELECT MIN(seq), MAX(seq) FROM order_events").fetchone()
        # Retention may have deleted every row; the highest seq ever used outlives them there.
        used = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'order_events'").fetchone()
        return low, max(high or 0, used[0] if used else 0)

    def changes(self, last: int, limit: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT e.*, o.symbol FROM order_events e LEFT JOIN orders o USING (order_id) "
            "WHERE e.seq > ? ORDER BY e.seq LIMIT ?", (last, limit)).fetchall()
        return [dict(r) for r in rows]

    def open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        return _open_orders(self.conn, symbol)


class SqliteFollower:
    """`tracker watch` on an SQLite book: a new read-only connection for each read, woken
    by the daemon's change feed at each commit, and by POLL_SECONDS where there is no feed
    (no daemon running, or an older one)."""

    retry_max = POLL_SECONDS  # a file that cannot be read is looked at again this often

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wakeup = Wakeup(path)

    def read(self, query: Callable[[SqliteJournal], T]) -> T:
        return read(self.path, lambda conn: query(SqliteJournal(conn)))

    def wait(self, interrupted: Callable[[], bool]) -> None:
        """A wait on the feed's socket is short enough not to need `interrupted`."""
        self.wakeup.wait(POLL_SECONDS)

    def close(self) -> None:
        self.wakeup.close()
