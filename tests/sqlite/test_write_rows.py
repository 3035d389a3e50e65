"""Many rows per statement: every row written as given, in statements of a few sizes, within
the connection's limit on parameters."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tracker.sqlite import store
from tracker.sqlite.store import EVENTS, MARKETS, ORDERS, write_rows


def _book(tmp_path: Path) -> sqlite3.Connection:
    path = tmp_path / "book.db"
    store.connect_migrated(path)
    return sqlite3.connect(path, isolation_level=None)


def _event(seq: int) -> tuple[object, ...]:
    # An amount spelled with trailing zeros must stay that text, not become a number.
    return (seq, 1_700_000_000_000 + seq, 1, "push", f"o{seq % 7}", "new", "0.00000000",
            1_700_000_000_000, "applied", None, None)


def _order(n: int, filled: str) -> tuple[object, ...]:
    return (f"o{n}", "BTC_USDT", "buy", "limit", "1.50", "2", filled, None, "new", None,
            1_700_000_000_000, 1_700_000_000_000 + n, "push", 0, 1_700_000_000_000, n)


@pytest.mark.parametrize("count", [0, 1, 3, 1000, 1024, 2500])
def test_every_row_is_written_as_given(tmp_path: Path, count: int) -> None:
    conn = _book(tmp_path)
    rows = [_event(seq) for seq in range(1, count + 1)]
    write_rows(conn, EVENTS, iter(rows))  # any iterable: read a statement's worth at a time
    got = conn.execute("SELECT * FROM order_events ORDER BY seq").fetchall()
    assert got == rows
    if count:
        assert conn.execute("SELECT DISTINCT typeof(filled_size) FROM order_events"
                            ).fetchall() == [("text",)]


def test_within_the_connections_limit_on_parameters(tmp_path: Path) -> None:
    """A SQLite built with a low limit still takes every row: fewer rows a statement."""
    conn = _book(tmp_path)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 50)  # four events' parameters
    write_rows(conn, EVENTS, [_event(seq) for seq in range(1, 301)])
    assert conn.execute("SELECT COUNT(*), MIN(seq), MAX(seq) FROM order_events"
                        ).fetchone() == (300, 1, 300)


def test_batches_of_every_size_prepare_few_statements(tmp_path: Path) -> None:
    """Statements of every size would each be prepared and cached (about 1 KB a row):
    power-of-two sizes bound them to one per bit of the largest batch."""
    conn = _book(tmp_path)
    store._spelled.cache_clear()
    seq = 0
    for size in range(1, 301):
        write_rows(conn, EVENTS, [_event(s) for s in range(seq + 1, seq + size + 1)])
        seq += size
    assert conn.execute("SELECT COUNT(*) FROM order_events").fetchone() == (seq,)
    assert store._spelled.cache_info().currsize == 9  # 1, 2, 4, ..., 256


def test_an_order_written_again_is_updated(tmp_path: Path) -> None:
    conn = _book(tmp_path)
    write_rows(conn, ORDERS, [_order(n, "0") for n in range(5)])
    write_rows(conn, ORDERS, [_order(n, "1.0") for n in range(3, 8)])
    got = dict(conn.execute("SELECT order_id, filled_size FROM orders").fetchall())
    assert got == {"o0": "0", "o1": "0", "o2": "0", "o3": "1.0", "o4": "1.0", "o5": "1.0",
                   "o6": "1.0", "o7": "1.0"}


def test_a_market_gets_its_unified_symbol(tmp_path: Path) -> None:
    conn = _book(tmp_path)
    write_rows(conn, MARKETS, [("okx", "BTC-USDT", "BTC", "USDT"),
                               ("binance", "ETHBTC", "ETH", "BTC")])
    write_rows(conn, MARKETS, [("okx", "BTC-USDT", "BTC", "USDC")])  # listed otherwise now
    got = conn.execute("SELECT venue, symbol, unified_symbol FROM markets ORDER BY venue"
                       ).fetchall()
    assert got == [("binance", "ETHBTC", "ETH/BTC"), ("okx", "BTC-USDT", "BTC/USDC")]
