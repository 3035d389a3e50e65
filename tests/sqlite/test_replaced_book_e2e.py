"""A book deleted or replaced under the daemon is noticed, and no seq comes back.

While running, the daemon checks once a second that its path still names the file it
writes; when it does not, it stops writing, logs `book_replaced` and exits 74, so the
supervisor restarts it onto the file now at the path. That file is another book: it gets a
new `book_id`, and its seqs continue above every seq the old one used (`<db>.seq` keeps
the high-water mark), so a reader that remembers (book_id, seq) never mistakes one for
the other. The old file's true last seq is read through a descriptor kept open on it.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from harness import Daemon, Lab, eventually, journal, logged, read_book, ro_connect
from tracker.sqlite import readers

EX_IOERR = 74


def max_seq(db: Path) -> int:
    """As readers read: a stopped daemon's book without creating a WAL beside it."""
    return int(readers.read(db, lambda conn: conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM order_events").fetchone()[0]))


def epoch(db: Path) -> int:
    """The book's epoch: a copy says live, as its book was; the restart must go past it."""
    return int(readers.read(db, lambda conn: conn.execute(
        "SELECT epoch FROM sync_state").fetchone()[0]))


def held_max_seq(fd: int, db: Path, scratch: Path) -> int:
    """The last seq the old file behind `fd` (deleted or renamed over since) holds with its
    last commits: SQLite does not fold a WAL into a file that has moved, so the exiting
    daemon set its WAL aside, beside the path, and it is read here with the old file."""
    (wal,) = db.parent.glob(f"{db.name}-wal.orphan-*")
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    with scratch.open("wb") as out, os.fdopen(fd, "rb") as held:
        shutil.copyfileobj(held, out)
    shutil.copyfile(wal, f"{scratch}-wal")
    conn = sqlite3.connect(scratch)
    try:
        return int(conn.execute("SELECT MAX(seq) FROM order_events").fetchone()[0])
    finally:
        conn.close()


def exits_replaced(daemon: Daemon) -> dict[str, Any]:
    """The daemon exits 74 within a few seconds, having said why."""
    assert daemon.wait(timeout=20) == EX_IOERR, daemon.tail()
    (record,) = logged(daemon.log, "book_replaced")
    assert record["level"] == "error"
    return record


def integrity(db: Path) -> list[tuple[Any, ...]]:
    conn = ro_connect(db)
    try:
        return [tuple(r) for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def test_restart_continues_and_a_deleted_book_gets_new_seqs(lab: Lab, tmp_path: Path) -> None:
    sim = lab.sim("--open-orders", "20", "--rate", "40", "--seed", "7")
    daemon = lab.daemon(sim).start()
    book_id = daemon.wait_live().state["book_id"]
    assert isinstance(book_id, str) and len(book_id) == 32

    # An ordinary restart: the same book, its seqs contiguous.
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    before, stopped_epoch = max_seq(daemon.db), epoch(daemon.db)
    daemon.start()
    daemon.wait_live(epoch_above=stopped_epoch)
    assert read_book(daemon.db).state["book_id"] == book_id
    seqs = [e["seq"] for e in journal(daemon.db)]
    assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] > before

    held = os.open(daemon.db, os.O_RDONLY)
    seen = max_seq(daemon.db)
    daemon.db.unlink()
    record = exits_replaced(daemon)
    assert record["found"] == "deleted"
    old_max = held_max_seq(held, daemon.db, tmp_path / "old.db")
    assert old_max >= seen

    daemon.start()
    book = daemon.wait_live()
    assert book.state["book_id"] not in (None, book_id)
    fresh = [e["seq"] for e in journal(daemon.db)]
    assert fresh and min(fresh) > old_max, (min(fresh), old_max)
    assert logged(daemon.log, "book_changed")
    sim.flow(0)
    daemon.wait_converged(sim, timeout=40)


def test_an_older_copy_moved_over_the_book(lab: Lab, tmp_path: Path) -> None:
    sim = lab.sim("--open-orders", "20", "--rate", "40", "--seed", "8")
    daemon = lab.daemon(sim).start()
    book_id = daemon.wait_live().state["book_id"]
    copy = backup(daemon.db, tmp_path / "copy.db")
    copied = max_seq(copy)
    eventually(lambda: _above(max_seq(daemon.db), copied + 50), 30, "more journal rows")

    copy_epoch = epoch(copy)
    held = os.open(daemon.db, os.O_RDONLY)
    os.rename(copy, daemon.db)
    record = exits_replaced(daemon)
    assert record["found"].startswith("another file")
    old_max = held_max_seq(held, daemon.db, tmp_path / "old.db")
    assert old_max > copied + 50

    daemon.start()
    book = daemon.wait_live(epoch_above=copy_epoch)
    assert integrity(daemon.db) == [("ok",)]
    assert book.state["book_id"] != book_id
    seqs = [e["seq"] for e in journal(daemon.db)]
    assert [s for s in seqs if s <= old_max] == list(range(1, copied + 1))  # the copy's own
    assert seqs[-1] > old_max  # and the new ones above every seq the old book used
    sim.flow(0)
    daemon.wait_converged(sim, timeout=40)
    code, status = daemon.status()
    assert code == 0 and status["book_id"] == book.state["book_id"]


def test_an_older_copy_after_a_crash_and_in_place(lab: Lab, tmp_path: Path) -> None:
    """Two ways in which the daemon only meets the copy at its next start. Killed, then the
    copy moved in: the dead daemon's WAL beside it belongs to the old file (SQLite would
    replay it into the copy and damage it), so it is moved aside. Stopped, then the copy
    written over the same file (same inode): its seqs end below where the book had got."""
    sim = lab.sim("--open-orders", "10", "--rate", "40", "--seed", "9")
    daemon = lab.daemon(sim).start()
    first_id = daemon.wait_live().state["book_id"]
    copy = backup(daemon.db, tmp_path / "copy.db")
    copied = max_seq(copy)
    eventually(lambda: _above(max_seq(daemon.db), copied + 50), 30, "more journal rows")
    sim.flow(0)
    time.sleep(1.5)  # the last pushes written; from here on only state changes commit
    killed_max = max_seq(daemon.db)
    daemon.signal(signal.SIGKILL)
    daemon.wait()
    assert Path(f"{daemon.db}-wal").exists()
    copy_epoch = epoch(copy)
    os.rename(copy, daemon.db)

    daemon.start()
    # Until the daemon has set the dead one's WAL aside, a reader of the copy would read
    # that WAL's pages over it (the README's restore steps say so): no reading before.
    eventually(lambda: _seen(logged(daemon.log, "orphan_wal_moved")), 30, "the WAL set aside")
    second = daemon.wait_live(epoch_above=copy_epoch)
    assert integrity(daemon.db) == [("ok",)]
    assert second.state["book_id"] != first_id
    seqs = [e["seq"] for e in journal(daemon.db)]
    assert [s for s in seqs if s <= killed_max] == list(range(1, copied + 1))
    assert seqs[-1] > killed_max

    copy = backup(daemon.db, tmp_path / "copy2.db")  # of the second book, its book_id
    copied_seqs = [e["seq"] for e in journal(copy)]
    sim.flow(40)
    eventually(lambda: _above(max_seq(daemon.db), copied_seqs[-1] + 50), 30,
               "more journal rows")
    sim.flow(0)
    daemon.wait_converged(sim, timeout=40)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    stopped_max = max_seq(daemon.db)

    inode = daemon.db.stat().st_ino
    shutil.copyfile(copy, daemon.db)  # written into the same file
    assert daemon.db.stat().st_ino == inode
    for leftover in (Path(f"{daemon.db}-wal"), Path(f"{daemon.db}-shm")):
        assert not leftover.exists()  # the clean stop removed them
    copy_epoch = epoch(daemon.db)
    daemon.start()
    third = daemon.wait_live(epoch_above=copy_epoch)
    (changed,) = logged(daemon.log, "book_changed")[-1:]
    assert "below" in changed["reason"]
    assert third.state["book_id"] not in (first_id, second.state["book_id"])
    seqs = [e["seq"] for e in journal(daemon.db)]
    assert [s for s in seqs if s <= stopped_max] == copied_seqs
    assert seqs[-1] > stopped_max


def backup(db: Path, to: Path) -> Path:
    conn = ro_connect(db)
    try:
        conn.execute(f"VACUUM INTO '{to}'")
    finally:
        conn.close()
    return to


def _above(value: int, floor: int) -> None:
    assert value > floor, f"{value} <= {floor}"


def _seen(found: list[dict[str, Any]]) -> None:
    assert found, "not yet in the daemon's log"
