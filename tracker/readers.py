"""Read-only views of the SQLite book for `tracker orders` and `tracker status` (a
PostgreSQL book's are in `tracker.pg_readers`, which judges its state here too).

They open the file as the README tells other readers to: read-only, short statements,
nothing held open, so they never disturb the daemon, and they read a stopped daemon's
book too.
"""

from __future__ import annotations

import re
import select
import socket
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

ORDER_FIELDS = ("order_id", "symbol", "side", "type", "price", "size", "filled_size",
                "filled_notional", "state", "client_order_id", "created_at", "updated_at",
                "unresolved")
# sync_state's times, in ms since the epoch; `tracker status --json` gives each in ISO 8601
# too, as `<name>_iso`.
TIME_FIELDS = ("started_at", "heartbeat_at", "live_since", "last_event_at", "last_seed_at")
# The daemon's status text carries its own count of open orders, written at another moment
# than any count a reader makes: a reader shows its own count and these words without it.
STATUS_COUNT = re.compile(r",?\s*\d+ open orders")
NEVER_RAN = "no daemon has run on this book yet"
HEARTBEAT_STALE_MS = 15_000
# The daemon commits at least once a second; `live = 1` with an older last commit means the
# writer is stuck (a full disk, a lock held by another process) and the book may be behind.
LIVE_STALE_MS = 5_000
T = TypeVar("T")


class Unavailable(Exception):
    """The book cannot be read (missing file, no permission, not a tracker database, a
    PostgreSQL server that cannot be reached)."""


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
    sql = f"SELECT {', '.join(ORDER_FIELDS)} FROM open_orders"
    args: tuple[str, ...] = ()
    if symbol:
        sql += " WHERE symbol = ?"
        args = (symbol,)
    sql += " ORDER BY symbol, created_at, order_id"
    return read(path, lambda conn: [dict(r) for r in conn.execute(sql, args).fetchall()])


def seen_symbol(path: Path, symbol: str) -> bool:
    """Whether the book ever held an order of `symbol`, open or not."""
    return read(path, lambda conn: conn.execute(
        "SELECT 1 FROM orders WHERE symbol = ? LIMIT 1", (symbol,)).fetchone() is not None)


def _state(conn: sqlite3.Connection) -> dict[str, Any]:
    state = dict(conn.execute("SELECT * FROM sync_state WHERE id = 1").fetchone())
    state["open_orders"] = conn.execute("SELECT COUNT(*) FROM open_orders").fetchone()[0]
    state["schema"] = conn.execute("PRAGMA user_version").fetchone()[0]
    return state


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status(path: Path) -> dict[str, Any]:
    """The `sync_state` row and the open-order count from one read, as `judged` gives them."""
    return judged(read(path, _state))


def judged(state: dict[str, Any]) -> dict[str, Any]:
    """`state` (a `sync_state` row, `open_orders` and `schema`, of either backend) with `live`
    as a reader should take it: the column, and a commit within LIVE_STALE_MS (the column
    cannot be cleared while writes fail). `status` is the daemon's words without its count."""
    state.pop("id", None)
    heartbeat = state.get("heartbeat_at") or 0
    age = int(time.time() * 1000 - heartbeat) if heartbeat else None
    state["heartbeat_age_ms"] = age
    state["running"] = age is not None and age < HEARTBEAT_STALE_MS and (
        state["status"] != "stopped")
    state["stalled"] = bool(state["running"] and state["live"] and age is not None
                            and age >= LIVE_STALE_MS)
    state["live"] = bool(state["live"]) and state["running"] and not state["stalled"]
    # A new book's columns say "starting" before any daemon has started; a stalled writer
    # cannot write why it is not live, so the reader says it, as the daemon's metric does.
    never_ran = state["started_at"] is None and state["heartbeat_at"] is None
    state["status"] = NEVER_RAN if never_ran else STATUS_COUNT.sub("", state["status"])
    if never_ran:
        state["not_live_reason"] = "never_started"
    elif state["stalled"]:
        state["not_live_reason"] = "database_unwritable"
    for name in TIME_FIELDS:
        state[f"{name}_iso"] = iso(state[name])
    return state


def feed_path(book: Path) -> Path:
    """Where the daemon announces the book's commits (tracker.feed serves it)."""
    return Path(f"{book}.feed")


class Wakeup:
    """A reader's wait for the next commit to an SQLite book: woken by the daemon's change
    feed (`<db>.feed`, one line per commit), or, with no daemon or no feed, by the timeout,
    as a timer would. It says only when to read: what changed is read from the book.

        wakeup = Wakeup(path)
        while True:
            ...read the rows past the last seq seen...
            wakeup.wait(1.0)
    """

    def __init__(self, book: Path) -> None:
        self.path = str(feed_path(book))
        self.sock: socket.socket | None = None

    def wait(self, timeout: float) -> bool:
        """True when a commit was announced within `timeout` seconds (all announced since
        the last wait are taken at once), False when the time ran out."""
        if self.sock is None and not self._connect():
            time.sleep(timeout)
            return False
        assert self.sock is not None
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return False
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:  # the daemon stopped: connect again on the next wait
            self.close()
        return bool(data)

    def _connect(self) -> bool:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            return False
        self.sock = sock
        return True

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
