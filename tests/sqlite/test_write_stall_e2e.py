"""A book that cannot be written, through the real daemon: another process holding the
write lock, and a full disk. While writes fail the book is not live to any reader (status,
metrics), the event queue stays bounded (past `queue_max` it sheds events and splices again
once writes succeed), a stop ends within its bound, and nothing committed is lost."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import Daemon, Lab, eventually, fill_disk, journal
from tests.test_daemon_ops import free_port, scrape


@contextlib.contextmanager
def write_lock(db: Path) -> Iterator[None]:
    """What a careless reader with write access does: hold the write lock."""
    conn = sqlite3.connect(db, timeout=10, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def contiguous(db: Path) -> list[dict[str, object]]:
    rows = journal(db)
    seqs = [r["seq"] for r in rows]
    assert seqs == list(range(1, len(seqs) + 1)), "the journal has a gap or a reused seq"
    return rows


def intact(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_a_write_stall_is_not_live_bounds_its_queue_and_splices_again(lab: Lab) -> None:
    port = free_port()
    sim = lab.sim("--open-orders", "10", "--seed", "5", "--rate", "100")
    daemon = lab.daemon(sim, env={"TRACKER_QUEUE_MAX": "300",
                                  "TRACKER_METRICS_PORT": str(port)}).start()
    before = daemon.wait_live()
    with write_lock(daemon.db):
        def stalled() -> dict[str, float]:
            code, status = daemon.status()
            assert code == 1 and status["live"] == 0 and status["stalled"], (code, status)
            assert status["not_live_reason"] == "database_unwritable", status
            metrics = scrape(port)
            assert metrics["tracker_book_live"] == 0, metrics["tracker_book_live"]
            assert metrics["tracker_events_dropped_total"] > 0
            return metrics

        eventually(stalled, 14, "readers and metrics see a stalled book as not live",
                   interval=0.2, context=daemon.tail)
        depths = []
        for _ in range(8):
            depths.append(scrape(port)["tracker_event_queue_depth"])
            time.sleep(0.25)
        assert max(depths) <= 300 + 10, f"the queue outgrew queue_max: {depths}"
    daemon.wait_live(epoch_above=before.state["epoch"])
    # Equal to the truth once the flow stops: at 100 events/s the truth, which by now takes
    # some 30 ms to fetch, is a few events behind the book read after it, every time.
    sim.flow(0)
    daemon.wait_converged(sim)
    contiguous(daemon.db)
    log = daemon.log.read_text()
    assert '"queue_overflow"' in log and '"commit_failed"' in log
    assert '"writer_stalled"' in log and '"writer_recovered"' in log


def stop_within_bound(daemon: Daemon, stop_timeout: float) -> float:
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = daemon.wait(timeout=stop_timeout + 20)
    elapsed = time.monotonic() - started
    assert code == 74, f"exit {code}, expected 74 (EX_IOERR): {daemon.tail(10)}"
    # the deadline and the interpreter's own exit: no commit waits for the lock
    assert elapsed < stop_timeout + 3, f"the stop took {elapsed:.1f} s"
    assert '"stop_unwritten"' in daemon.log.read_text()
    return elapsed


def test_a_stop_ends_within_its_bound_while_another_process_holds_the_book(lab: Lab) -> None:
    sim = lab.sim("--open-orders", "5", "--seed", "6", "--rate", "30")
    daemon = lab.daemon(sim, env={"TRACKER_STOP_TIMEOUT": "2"}).start()
    daemon.wait_live()
    with write_lock(daemon.db):
        seen = journal(daemon.db)  # everything a reader has seen is committed
        time.sleep(1.0)
        stop_within_bound(daemon, 2)
    intact(daemon.db)
    assert contiguous(daemon.db)[:len(seen)] == seen, "a committed journal row changed"
    daemon.start()
    daemon.wait_live()
    daemon.wait_converged(sim)
    contiguous(daemon.db)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: the machine's own disk is never filled."""
    if os.geteuid() != 0:
        print("small_disk: skipped: mounting a tmpfs needs root")
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_not_live_recovers_and_a_stop_ends_in_time(lab: Lab,
                                                                   small_disk: Path) -> None:
    sim = lab.sim("--open-orders", "5", "--seed", "8", "--rate", "30")
    daemon = lab.daemon(sim, db=small_disk / "book.db",
                        env={"TRACKER_STOP_TIMEOUT": "2"}).start()
    before = daemon.wait_live()
    filler = fill_disk(small_disk)

    def not_live() -> None:
        code, status = daemon.status()
        assert code in (1, 3) and status["live"] == 0, (code, status)

    eventually(not_live, 20, "a book that cannot be written is not live", interval=0.3,
               context=daemon.tail)
    assert "disk is full" in daemon.log.read_text()
    filler.unlink()
    daemon.wait_live(epoch_above=before.state["epoch"] - 1)
    daemon.wait_converged(sim)

    filler = fill_disk(small_disk)
    eventually(not_live, 20, "full again", interval=0.3, context=daemon.tail)
    stop_within_bound(daemon, 2)
    filler.unlink()
    intact(daemon.db)
    contiguous(daemon.db)
    daemon.start()
    daemon.wait_live()
    daemon.wait_converged(sim)
    contiguous(daemon.db)
