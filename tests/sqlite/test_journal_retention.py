"""Journal retention: `journal_keep_days` deletes old journal rows from the low end only,
in bounded chunks, never reuses a seq, and never touches the book.

The store tests write journal rows with chosen receive times into a real SQLite file; the
last test runs the daemon against the simulator with a retention of about two seconds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness import Lab, eventually, ro_connect
from tracker.batch import Batch, now_ms
from tracker.book import Outcome
from tracker.config import ConfigError, load
from tracker.sqlite.store import Store
from tracker.storage import DAY_MS, PRUNE_CHUNK


def event(seq: int, received_at: int) -> tuple[object, ...]:
    return (seq, received_at, 1, "push", f"o{seq}", "new", "0", received_at,
            Outcome.APPLIED.value, None, None)


async def write(store: Store, received: list[int]) -> list[int]:
    batch = Batch()
    seqs = [store.take_seq() for _ in received]
    batch.events.extend(event(s, t) for s, t in zip(seqs, received, strict=True))
    await store.commit(batch)
    return seqs


def seqs_in(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT seq FROM order_events ORDER BY seq")]
    finally:
        conn.close()


async def test_old_rows_go_in_chunks_from_the_low_end(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "book.db")
    now = now_ms()
    old = await write(store, [now - 3 * DAY_MS] * (2 * PRUNE_CHUNK + 7))
    fresh = await write(store, [now] * 5)
    cutoff = now - DAY_MS
    assert await store.prune(cutoff) is True  # a whole chunk: there may be more
    assert seqs_in(store.path)[0] == old[PRUNE_CHUNK]
    assert await store.prune(cutoff) is True
    assert await store.prune(cutoff) is False
    assert seqs_in(store.path) == fresh
    assert store.pruned == len(old)
    assert await store.prune(cutoff) is False  # nothing old left: nothing goes
    assert seqs_in(store.path) == fresh
    await store.close()


async def test_a_row_stamped_after_the_cutoff_stops_the_run(tmp_path: Path) -> None:
    """A clock set back leaves a newer stamp among older ones: retention stops there, so
    the journal stays one contiguous run of seqs."""
    store = await Store.open(tmp_path / "book.db")
    now = now_ms()
    seqs = await write(store, [now - 3 * DAY_MS, now, now - 3 * DAY_MS, now])
    assert await store.prune(now - DAY_MS) is False
    assert seqs_in(store.path) == seqs[1:]
    await store.close()


async def test_commits_prune_when_retention_is_set_and_never_otherwise(tmp_path: Path) -> None:
    now = now_ms()
    keeping = await Store.open(tmp_path / "all.db")
    await write(keeping, [now - 400 * DAY_MS] * 3 + [now])
    assert len(seqs_in(keeping.path)) == 4 and keeping.pruned == 0
    await keeping.close()

    store = await Store.open(tmp_path / "month.db", keep_days=30)
    seqs = await write(store, [now - 31 * DAY_MS] * 3 + [now - 29 * DAY_MS, now])
    assert seqs_in(store.path) == seqs[3:]  # the commit itself pruned
    assert store.pruned == 3
    await store.close()


async def test_seqs_are_never_reused_after_everything_was_pruned(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    store = await Store.open(db)
    seqs = await write(store, [now_ms() - 10 * DAY_MS] * 4)
    assert await store.prune(now_ms()) is False
    assert seqs_in(db) == []
    await store.close()
    reopened = await Store.open(db)
    assert reopened.take_seq() == seqs[-1] + 1
    await reopened.close()


@pytest.mark.parametrize("value", ["-1", "nan", "36501", "a month"])
def test_a_bad_retention_is_one_clear_error(value: str) -> None:
    env = {"TRACKER_SYMBOLS": "BTC_USDT", "TRACKER_API_KEY": "k", "TRACKER_API_SECRET": "s",
           "TRACKER_API_MEMO": "m", "TRACKER_JOURNAL_KEEP_DAYS": value}
    with pytest.raises(ConfigError, match="journal_keep_days"):
        load(None, env, {})
    env["TRACKER_JOURNAL_KEEP_DAYS"] = "30"
    assert load(None, env, {}).journal_keep_days == 30


def test_the_daemon_keeps_a_bounded_journal_and_an_exact_book(lab: Lab) -> None:
    sim = lab.sim("--open-orders", "30", "--rate", "40", "--seed", "7")
    keep_s = 2.0
    daemon = lab.daemon(sim, env={"TRACKER_JOURNAL_KEEP_DAYS": str(keep_s / 86_400)}).start()
    daemon.wait_live()

    def pruned() -> int:
        conn = ro_connect(daemon.db)
        try:
            low, high, oldest = conn.execute(
                "SELECT MIN(seq), MAX(seq), MIN(received_at) FROM order_events").fetchone()
            recent = conn.execute("SELECT COUNT(*) FROM order_events WHERE received_at > ?",
                                  (now_ms() - keep_s * 500,)).fetchone()[0]
        finally:
            conn.close()
        # the seed's rows (seq 1..) are gone, and nothing is much older than the limit
        # (idle checks come every second at this retention)
        assert low > 30, low
        assert now_ms() - oldest < (keep_s + 3) * 1000, now_ms() - oldest
        assert recent > 0, "rows younger than the limit were deleted"
        return high

    high = eventually(pruned, 30, "the journal's oldest rows pruned")
    sim.flow(0)
    daemon.wait_converged(sim)
    conn = ro_connect(daemon.db)
    try:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM order_events ORDER BY seq")]
    finally:
        conn.close()
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "the journal has a hole"
    assert seqs[-1] >= high
