"""The WAL: folded into the book every CHECKPOINT_PAGES pages by the commit that passes
them, and forced back to its start when readers have let it grow past WAL_LIMIT, not again
while it stays within it.

A real SQLite file and a real reader connection. After a restart SQLite truncates the WAL
file to `journal_size_limit` (WAL_LIMIT) and reuses it from the start, so a file of exactly
that size may hold a single frame: a restart then only stalls the writer.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tracker.batch import Batch, now_ms
from tracker.book import Outcome
from tracker.sqlite import store as sqlite_store
from tracker.sqlite.store import CHECKPOINT_PAGES, Store

LIMIT = 256 * 1024  # bytes: 64 frames of 4 KiB, below the checkpoint's pages
WAL_HEADER, FRAME = 32, 4096 + 24  # bytes: the file's header; a page and its frame header


def wal_size(store: Store) -> int:
    return os.stat(f"{store.path}-wal").st_size


async def write(store: Store, rows: int) -> None:
    batch = Batch()
    for _ in range(rows):
        seq = store.take_seq()
        batch.events.append((seq, now_ms(), 1, "push", f"{seq}", "new", "0", None,
                             Outcome.APPLIED.value, None, "x" * 200))
    await store.commit(batch)


async def test_a_wal_past_the_limit_is_restarted_and_one_at_it_is_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "WAL_LIMIT", LIMIT)
    monkeypatch.setattr(sqlite_store, "WAL_CHECK_SECONDS", 0.0)  # the bound looks each commit
    store = await Store.open(tmp_path / "book.db")
    reader = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, isolation_level=None)
    try:
        await write(store, 1)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM order_events").fetchone()  # a snapshot held
        while wal_size(store) <= 2 * LIMIT:  # nothing can restart the log under it
            await write(store, 20)
        assert store.wal_restarts == 0
        reader.execute("COMMIT")  # the reader leaves

        await write(store, 1)
        assert store.wal_restarts == 1
        await write(store, 1)  # the log starts afresh, and the file is cut to the limit
        assert wal_size(store) == LIMIT
        for _ in range(5):  # a few frames in a file of LIMIT bytes: nothing to bound
            await write(store, 1)
        assert store.wal_restarts == 1
    finally:
        reader.close()
        await store.close()


async def test_commits_fold_the_wal_into_the_book_every_few_hundred_pages(
        tmp_path: Path) -> None:
    """With no reader in the way the log restarts after each checkpoint, so the file never
    holds more than a checkpoint's pages and one commit's: each checkpoint, which the
    pushes queued behind its commit wait for, copies a few hundred pages, not a thousand."""
    store = await Store.open(tmp_path / "book.db")
    try:
        most = 0
        for _ in range(400):  # some 1,200 pages
            await write(store, 20)
            most = max(most, (wal_size(store) - WAL_HEADER) // FRAME)
        assert CHECKPOINT_PAGES <= most <= CHECKPOINT_PAGES + 20, most
    finally:
        await store.close()
