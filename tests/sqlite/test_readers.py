"""The read-only commands read a book whose daemon has stopped, as a user who may not write
beside it, and never read a book a writer changes under them.

After a clean stop the daemon has removed the WAL and its shared-memory file; a WAL reader
that cannot create that file cannot open the book the usual way. The test reads as such a
user: `nobody` when the suite runs as root (root may write anywhere), else the current
user with the directory made read-only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tracker.batch import Batch
from tracker.book import Outcome
from tracker.codec import OrderUpdate
from tracker.sqlite import readers
from tracker.sqlite.store import Store

NOBODY = 65534


def order(n: int) -> OrderUpdate:
    return OrderUpdate(order_id=f"10{n:04d}", symbol="BTC_USDT", side="buy", state="new",
                       price=Decimal("60000.5"), size=Decimal("0.25"),
                       filled_size=Decimal("0"), source="push")


@pytest.fixture
def book() -> Iterator[Path]:
    """A stopped daemon's book: three open orders, written and closed by the store."""
    workdir = Path(tempfile.mkdtemp(prefix="readers-"))
    workdir.chmod(0o755)
    db = workdir / "orders.db"

    async def write() -> None:
        store = await Store.open(db)
        batch = Batch()
        for n in range(3):
            seq = store.take_seq()
            batch.journal(seq, 1, "push", Outcome.APPLIED, order(n))
            batch.order(order(n), seq, unresolved=False)
        batch.state.update(live=0, status="stopped", epoch=1)
        await store.commit(batch)
        await store.close()

    asyncio.run(write())
    db.chmod(0o644)
    yield db
    workdir.chmod(0o755)
    for path in workdir.iterdir():
        path.unlink()
    workdir.rmdir()


def as_reader(db: Path, read: Callable[[], Any]) -> Any:
    """`read()` in a process that cannot create files beside the book."""
    if os.geteuid() != 0:
        db.parent.chmod(0o555)
        try:
            return read()
        finally:
            db.parent.chmod(0o755)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, read, report, and leave at once
        os.close(rfd)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result: Any = {"ok": read()}
        except BaseException as exc:  # reported to the parent, which asserts on it
            result = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(wfd, json.dumps(result).encode())
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    result = json.loads(data)
    assert "ok" in result, result["error"]
    return result["ok"]


def test_a_stopped_daemons_book_reads_without_write_access(book: Path) -> None:
    assert not Path(f"{book}-wal").exists()  # a clean close removed it
    rows = as_reader(book, lambda: readers.open_orders(book))
    assert [r["order_id"] for r in rows] == ["100000", "100001", "100002"]
    assert rows[0]["price"] == "60000.5" and rows[0]["state"] == "new"
    state = as_reader(book, lambda: readers.status(book))
    assert state["open_orders"] == 3 and state["status"] == "stopped"
    assert state["running"] is False and state["live"] is False
    assert readers.status(book)["open_orders"] == 3  # and as this user
    # no reader created the WAL files, which would then belong to it
    assert sorted(p.name for p in book.parent.iterdir()) == ["orders.db", "orders.db.seq"]


def test_a_writer_starting_during_the_read_is_read_instead(book: Path) -> None:
    """The book is read without the WAL only while no WAL exists: if a writer starts
    meanwhile, the read is done again through the WAL, so it shows the writer's commit."""
    writers: list[sqlite3.Connection] = []

    def count(conn: sqlite3.Connection) -> int:
        if not writers:
            writer = sqlite3.connect(book)
            writer.execute("UPDATE orders SET state = 'canceled' WHERE order_id = '100000'")
            writer.commit()  # into the WAL, which now exists; the writer stays open
            writers.append(writer)
        return int(conn.execute("SELECT COUNT(*) FROM open_orders").fetchone()[0])

    try:
        assert readers.read(book, count) == 2
    finally:
        for writer in writers:
            writer.close()


def test_a_read_is_one_transaction(book: Path) -> None:
    """Every statement of one read sees the same commit: a count made after the daemon
    committed again is still the count of the rows read before, never a second number."""
    writer = sqlite3.connect(book)
    writer.execute("PRAGMA journal_mode=WAL")  # open while the read runs, as a daemon's is

    def twice(conn: sqlite3.Connection) -> tuple[int, int]:
        first = int(conn.execute("SELECT COUNT(*) FROM open_orders").fetchone()[0])
        writer.execute("UPDATE orders SET state = 'filled' WHERE order_id = '100001'")
        writer.commit()
        return first, int(conn.execute("SELECT COUNT(*) FROM open_orders").fetchone()[0])

    try:
        assert readers.read(book, twice) == (3, 3)
        assert readers.status(book)["open_orders"] == 2  # the next read sees the commit
    finally:
        writer.close()


def test_a_book_that_is_not_one_is_unavailable(book: Path) -> None:
    other = book.with_name("other.db")
    sqlite3.connect(other).close()
    with pytest.raises(readers.Unavailable, match="no such table"):
        readers.status(other)
