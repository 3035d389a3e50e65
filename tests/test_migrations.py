"""Forward-only migrations recorded in PRAGMA user_version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tracker import migrate


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
