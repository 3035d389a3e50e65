"""The book read as any other process reads it (read-only SQLite), and compared with the
simulator's ground truth."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.sim import SYMBOLS
from tracker.venues.bitmart.protocol import OPEN_STATES


@dataclass
class BookView:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    open_ids: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)


def ro_connect(db: Path, timeout: float = 5.0) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=timeout,
                           isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def read_book(db: Path) -> BookView:
    """One consistent snapshot (one read transaction) of orders, open_orders, sync_state."""
    assert db.exists(), f"no book at {db} yet"
    conn = ro_connect(db)
    try:
        conn.execute("BEGIN")
        orders = {r["order_id"]: dict(r) for r in conn.execute("SELECT * FROM orders")}
        open_ids = {r[0] for r in conn.execute("SELECT order_id FROM open_orders")}
        state = dict(conn.execute("SELECT * FROM sync_state WHERE id = 1").fetchone())
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:  # created, not yet migrated: as if absent
        raise AssertionError(f"the book at {db} is not readable yet: {exc}") from None
    finally:
        conn.close()
    return BookView(orders, open_ids, state)


def journal(db: Path, order_id: str | None = None) -> list[dict[str, Any]]:
    conn = ro_connect(db)
    try:
        sql, args = "SELECT * FROM order_events", ()
        if order_id is not None:
            sql, args = sql + " WHERE order_id = ?", (order_id,)
        return [dict(r) for r in conn.execute(sql + " ORDER BY seq", args)]
    finally:
        conn.close()


def divergences(book: BookView, truth: dict[str, dict[str, Any]],
                symbols: tuple[str, ...] = SYMBOLS) -> list[tuple[str, str]]:
    """Where the book and the ground truth disagree, as (kind, description); empty when
    converged. Kinds: missing, extra, unknown, wrong_state, wrong_filled, unresolved.

    The open sets must be equal (for the configured symbols), and every order the book
    holds must show the truth's state and filled size (as Decimals: the book keeps the
    exchange's text). An order still flagged unresolved is not converged either.
    """
    found: list[tuple[str, str]] = []
    truth_open = {oid for oid, t in truth.items()
                  if t["state"] in OPEN_STATES and t["symbol"] in symbols}
    for oid in sorted(book.open_ids - truth_open):
        found.append(("extra", f"{oid} open in the book, "
                               f"{truth.get(oid, {}).get('state')} in truth"))
    for oid in sorted(truth_open - book.open_ids):
        found.append(("missing", f"{oid} open in truth, "
                                 f"{book.orders.get(oid, {}).get('state')} in the book"))
    for oid, row in sorted(book.orders.items()):
        t = truth.get(oid)
        if t is None:
            found.append(("unknown", f"{oid} in the book, unknown to the exchange"))
            continue
        text = f"{oid}: book {row['state']} {row['filled_size']}, truth {t['state']} " \
               f"{t['filledSize']}"
        if row["state"] != t["state"]:
            found.append(("wrong_state", text))
        elif Decimal(row["filled_size"]) != Decimal(t["filledSize"]):
            found.append(("wrong_filled", text))
        if row["unresolved"]:
            found.append(("unresolved", f"{oid} still unresolved"))
    return found


def differences(book: BookView, truth: dict[str, dict[str, Any]],
                symbols: tuple[str, ...] = SYMBOLS) -> list[str]:
    return [text for _, text in divergences(book, truth, symbols)]
