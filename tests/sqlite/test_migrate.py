"""Forward-only migrations recorded in PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.docs import documented
from tracker.sqlite import migrate


def test_migrating_twice_is_a_no_op(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "b.db")
    latest = migrate.apply(conn)
    assert latest == len(migrate.load()) and latest >= 1
    tables = conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    assert migrate.apply(conn) == latest
    assert conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == tables
    names = {t[0] for t in tables}
    assert {"orders", "open_orders", "order_events", "sync_state"} <= names


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "b.db")
    good = migrate.load()
    migrate.apply(conn, good)
    broken = [*good, (len(good) + 1,
                      "ALTER TABLE orders ADD COLUMN extra TEXT; SELECT * FROM nowhere;")]
    with pytest.raises(sqlite3.OperationalError):
        migrate.apply(conn, broken)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(good)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(orders)")]
    assert "extra" not in columns


def test_numbering_must_be_contiguous(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0003_c.sql").write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match="not numbered"):
        migrate.load(tmp_path)


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "b.db")
    conn.execute("PRAGMA user_version = 99")
    with pytest.raises(migrate.MigrationError, match="newer than this tracker"):
        migrate.apply(conn)


def test_open_orders_view_and_state_check(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "b.db")
    migrate.apply(conn)
    row = ("1", "BTC_USDT", "buy", "limit", "1.0", "2", "0", None, "new", None, 1, 1, "push", 0,
           1, 1)
    conn.execute(f"INSERT INTO orders VALUES ({', '.join('?' * len(row))})", row)
    assert conn.execute("SELECT order_id, price FROM open_orders").fetchall() == [("1", "1.0")]
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(f"INSERT INTO orders VALUES ({', '.join('?' * len(row))})",
                     ("2", *row[1:8], "exploded", *row[9:]))


def test_an_upgraded_book_gets_a_book_id_of_its_own(tmp_path: Path) -> None:
    ids = []
    for name in ("a.db", "b.db"):
        conn = sqlite3.connect(tmp_path / name)
        migrate.apply(conn, migrate.load()[:2])  # a book made before book_id existed
        assert "book_id" not in [r[1] for r in conn.execute("PRAGMA table_info(sync_state)")]
        migrate.apply(conn)
        ids.append(conn.execute("SELECT book_id FROM sync_state").fetchone()[0])
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids) and ids[0] != ids[1]


@pytest.mark.parametrize("version", [0, 2])
def test_another_programs_database_is_refused_unchanged(tmp_path: Path, version: int) -> None:
    conn = sqlite3.connect(tmp_path / "theirs.db")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    with pytest.raises(migrate.MigrationError, match="not a tracker book") as refused:
        migrate.apply(conn)
    assert refused.value.code == 78
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    assert names == ["orders"]


def book_before_positional_amounts(path: Path) -> sqlite3.Connection:
    """A book as trackers wrote it before amounts were positional (`str(Decimal)`)."""
    conn = sqlite3.connect(path)
    migrations = migrate.load()
    version = next(n for n, sql in migrations if "positional(" in sql)
    migrate.apply(conn, migrations[:version - 1])
    rows = [("1", "BTC_USDT", "buy", "limit", "1.0E-7", "0E-30", "0E-8", None, "new", None, 1,
             1, "push", 0, 1, 1),
            ("2", "BTC_USDT", "sell", "limit", "60000.00", "0.5", "0.25", "15000.00000000",
             "partially_filled", None, 1, 1, "push", 0, 1, 2)]
    conn.executemany(f"INSERT INTO orders VALUES ({', '.join('?' * 16)})", rows)
    conn.executemany("INSERT INTO order_events (seq, received_at, epoch, source, order_id, "
                     "filled_size, outcome) VALUES (?, 1, 1, 'push', ?, ?, ?)",
                     [(1, "1", "0E-8", "applied"), (2, "2", "0.25", "applied"),
                      (3, None, None, "invalid")])
    conn.commit()
    return conn


def test_exponent_amounts_are_rewritten_positionally(tmp_path: Path) -> None:
    conn = book_before_positional_amounts(tmp_path / "b.db")
    assert migrate.apply(conn) == len(migrate.load())
    assert conn.execute("SELECT order_id, price, size, filled_size, filled_notional "
                        "FROM orders ORDER BY order_id").fetchall() == [
        ("1", "0.00000010", "0." + "0" * 30, "0.00000000", None),
        ("2", "60000.00", "0.5", "0.25", "15000.00000000")]  # positional already: as it was
    assert conn.execute("SELECT filled_size FROM order_events ORDER BY seq").fetchall() == [
        ("0.00000000",), ("0.25",), (None,)]


def test_an_amount_that_is_no_decimal_stops_the_rewrite_unchanged(tmp_path: Path) -> None:
    conn = book_before_positional_amounts(tmp_path / "b.db")
    before = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.execute("UPDATE orders SET size = 'EXPLODED' WHERE order_id = '2'")
    conn.commit()
    with pytest.raises(sqlite3.OperationalError):
        migrate.apply(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == before
    assert conn.execute("SELECT price FROM orders WHERE order_id = '1'").fetchone() == (
        "1.0E-7",)


OLD_OPEN_COLUMNS = ["order_id", "symbol", "side", "type", "price", "size", "filled_size",
                    "filled_notional", "state", "client_order_id", "created_at", "updated_at",
                    "unresolved"]


def book_at_schema_7(path: Path, venue: str | None = "bitmart") -> sqlite3.Connection:
    """A book as schema 7 left it, with orders open and closed, journal rows and a state."""
    conn = sqlite3.connect(path)
    migrate.apply(conn, migrate.load()[:7])
    orders = [(f"90000{n}", symbol, "buy", "limit", "60000.50", "0.25", filled, None, state,
               None, 1_700_000_000_000 + n, 1_700_000_000_001 + n, "push", 0, 1, n + 1)
              for n, (symbol, state, filled) in enumerate([
                  ("BTC_USDT", "new", "0"), ("BTC_USDT", "partially_filled", "0.1"),
                  ("BTC_USDT", "filled", "0.25"), ("BMX_ETH", "new", "0")])]
    conn.executemany(f"INSERT INTO orders VALUES ({', '.join('?' * 16)})", orders)
    conn.executemany("INSERT INTO order_events (received_at, epoch, source, order_id, state, "
                     "filled_size, outcome) VALUES (1, 1, 'push', ?, ?, ?, 'applied')",
                     [(o[0], o[8], o[6]) for o in orders])
    conn.execute("UPDATE sync_state SET venue = ?, key_fingerprint = '15d59058aa0c1d2e', "
                 "symbols = 'BMX_ETH,BTC_USDT,ETH_USDT', live = 1, epoch = 3", (venue,))
    conn.commit()
    return conn


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("orders", "order_events", "sync_state")}


def test_a_schema_7_book_keeps_every_row_and_its_open_orders_gain_a_unified_symbol(
        tmp_path: Path) -> None:
    """Schema 8 adds `markets` and two columns at the end of `open_orders`: every row of the
    book is kept, a reader selecting the old columns by name reads what it read, and each
    open order shows its market's BASE/QUOTE once the market is recorded (NULL before)."""
    conn = book_at_schema_7(tmp_path / "b.db")
    before = dump(conn)
    old_select = f"SELECT {', '.join(OLD_OPEN_COLUMNS)} FROM open_orders ORDER BY order_id"
    open_before = conn.execute(old_select).fetchall()
    assert migrate.apply(conn) == len(migrate.load()) >= 8
    assert dump(conn) == before
    assert conn.execute(old_select).fetchall() == open_before
    columns = [r[1] for r in conn.execute("PRAGMA table_info(open_orders)")]
    assert columns == [*OLD_OPEN_COLUMNS, "venue", "unified_symbol"]
    assert conn.execute("SELECT order_id, venue, unified_symbol FROM open_orders "
                        "ORDER BY order_id").fetchall() == [
        ("900000", "bitmart", None), ("900001", "bitmart", None), ("900003", "bitmart", None)]
    conn.executemany("INSERT INTO markets VALUES (?, ?, ?, ?, ? || '/' || ?)",
                     [("bitmart", "BTC_USDT", "BTC", "USDT", "BTC", "USDT"),
                      ("binance", "BMX_ETH", "BMX", "ETH", "BMX", "ETH")])  # another venue's
    assert conn.execute("SELECT order_id, symbol, unified_symbol FROM open_orders "
                        "WHERE unified_symbol = 'BTC/USDT' ORDER BY order_id").fetchall() == [
        ("900000", "BTC_USDT", "BTC/USDT"), ("900001", "BTC_USDT", "BTC/USDT")]
    # BMX_ETH is recorded for another venue only: not this book's market.
    assert conn.execute("SELECT unified_symbol FROM open_orders WHERE order_id = '900003'"
                        ).fetchone() == (None,)
    (any_state,) = documented("sqlite-contract.md", "Orders of any state on BTC/USDT, in one "
                                                    "book")
    assert sorted((r[0], r[2], r[3]) for r in conn.execute(any_state)) == [
        ("900000", "BTC/USDT", "new"), ("900001", "BTC/USDT", "partially_filled"),
        ("900002", "BTC/USDT", "filled")]


@pytest.mark.parametrize(("base", "quote", "unified"), [
    ("BTC", "USDT", "BTC-USDT"), ("", "USDT", "/USDT"), ("BTC/X", "USDT", "BTC/X/USDT")])
def test_a_market_row_is_its_base_a_slash_and_its_quote(tmp_path: Path, base: str, quote: str,
                                                        unified: str) -> None:
    conn = sqlite3.connect(tmp_path / "b.db")
    migrate.apply(conn)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO markets VALUES ('bitmart', 'BTC_USDT', ?, ?, ?)",
                     (base, quote, unified))
