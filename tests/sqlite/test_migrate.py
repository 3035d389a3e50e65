"""Forward-only migrations recorded in PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

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
