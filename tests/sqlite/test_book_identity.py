"""`<db>.seq` beside the book: the writer's lock and the seq high-water mark.

Seqs are reserved a block at a time, always ahead of every committed seq, so a book that
is deleted or replaced continues above anything a reader saw, under a new book_id; the
same book continues where it stopped."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tracker.batch import Batch
from tracker.book import Outcome
from tracker.migrate import StartupError
from tracker.sqlite import store as store_mod
from tracker.sqlite.store import Store


def mark(db: Path) -> dict[str, Any]:
    return json.loads(Path(f"{db}.seq").read_text())


def write_seq_file(db: Path, text: str) -> None:
    Path(f"{db}.seq").write_text(text)


async def journal_rows(store: Store, n: int) -> int:
    batch = Batch()
    for _ in range(n):
        batch.journal(store.take_seq(), 1, "push", Outcome.INVALID, reason="r", payload="p")
    await store.commit(batch)
    return store.next_seq - 1


async def book_id(store: Store) -> str:
    async with store.conn.execute("SELECT book_id FROM sync_state") as cur:
        row = await cur.fetchone()
    assert row is not None
    return str(row[0])


async def test_reserved_ahead_and_a_deleted_book_continues_above(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "SEQ_BLOCK", 10)
    db = tmp_path / "book.db"
    store = await Store.open(db)
    first_id = await book_id(store)
    assert mark(db)["book_id"] == first_id and mark(db)["reserved"] == 10
    for _ in range(3):
        last = await journal_rows(store, 8)
        assert mark(db)["reserved"] >= last  # written before the commit that needed it
    assert last == 24 and mark(db)["reserved"] == 16 + 10  # a block past the batch at 16
    await store.close()
    assert mark(db)["reached"] == 24  # the clean stop records how far the book got

    store = await Store.open(db)  # the same book: contiguous, same id
    assert store.next_seq == 25 and await book_id(store) == first_id
    await store.close()

    reserved = mark(db)["reserved"]
    db.unlink()
    store = await Store.open(db)
    assert store.next_seq == reserved + 1
    assert await book_id(store) not in (first_id, None)
    assert mark(db)["book_id"] == await book_id(store)
    assert await journal_rows(store, 1) == reserved + 1
    await store.close()


async def test_one_writer_per_book(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    store = await Store.open(db)
    try:
        with pytest.raises(StartupError, match=f"in use by another tracker \\(pid {os.getpid()}"
                           ) as refused:
            await Store.open(db)
        assert refused.value.code == os.EX_TEMPFAIL
    finally:
        await store.close()
    await (await Store.open(db)).close()  # free again once the holder closed


async def test_an_unreadable_seq_file_falls_back_to_the_book(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    store = await Store.open(db)
    await journal_rows(store, 5)
    await store.close()
    write_seq_file(db, "{not json")
    store = await Store.open(db)
    assert store.next_seq == 6
    await store.close()
    assert mark(db)["reached"] == 5
