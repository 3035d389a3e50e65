"""Read-only views of an SQLite book for `tracker orders`, `status` and `watch`.

They open the file as the README tells other readers to: read-only, short statements,
nothing held open, so they never disturb the daemon, and they read a stopped daemon's
book too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from tracker.readers import ORDER_FIELDS, Unavailable, judged

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


def status(path: Path) -> dict[str, Any]:
    """The `sync_state` row and the open-order count from one read, as `judged` gives them."""
    return judged(read(path, _state))
