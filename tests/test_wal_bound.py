"""The WAL bound: the writer forces the WAL back to its start when the log has grown past
WAL_LIMIT under readers, and not again while it stays within it.

A real SQLite file and a real reader connection. After a restart SQLite truncates the WAL
file to `journal_size_limit` (WAL_LIMIT) and reuses it from the start, so a file of exactly
that size may hold a single frame: a restart then only stalls the writer.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tracker import store as sqlite_store
from tracker.book import Outcome
from tracker.storage import Batch, now_ms
from tracker.store import Store

LIMIT = 256 * 1024  # bytes: 64 frames of 4 KiB, far below the 1,000-page autocheckpoint


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
