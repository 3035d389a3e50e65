"""Read-only views of the book for `tracker orders` and `tracker status`.

They open the file exactly as the README tells other readers to: `mode=ro`, short
statements, nothing held open, so they never disturb the daemon.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

ORDER_FIELDS = ("order_id", "symbol", "side", "type", "price", "size", "filled_size", "state",
                "client_order_id", "created_at", "updated_at", "unresolved")
HEARTBEAT_STALE_MS = 15_000


class Unavailable(Exception):
    """The book cannot be read (missing file, no permission, not a tracker database)."""


def connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise Unavailable(f"no book at {path} (is the daemon configured with this db?)")
    try:
        # Percent-encoded: in a URI a '?', '#' or '%' in the path would change its meaning.
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=2.0)
        conn.row_factory = sqlite3.Row
        conn.execute("SELECT 1 FROM sync_state").fetchone()
    except sqlite3.Error as exc:
        raise Unavailable(f"cannot read {path}: {exc}") from None
    return conn


def open_orders(path: Path, symbol: str | None = None) -> list[dict[str, Any]]:
    conn = connect(path)
    try:
        sql = f"SELECT {', '.join(ORDER_FIELDS)} FROM open_orders"
        args: tuple[str, ...] = ()
        if symbol:
            sql += " WHERE symbol = ?"
            args = (symbol,)
        rows = conn.execute(sql + " ORDER BY symbol, created_at, order_id", args).fetchall()
        return [dict(r) for r in rows]
    finally:
        conn.close()


def status(path: Path) -> dict[str, Any]:
    conn = connect(path)
    try:
        state = dict(conn.execute("SELECT * FROM sync_state WHERE id = 1").fetchone())
        state["open_orders"] = conn.execute("SELECT COUNT(*) FROM open_orders").fetchone()[0]
        state["schema"] = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    state.pop("id", None)
    heartbeat = state.get("heartbeat_at") or 0
    fresh = time.time() * 1000 - heartbeat < HEARTBEAT_STALE_MS
    state["running"] = bool(heartbeat) and fresh and state["status"] != "stopped"
    return state
