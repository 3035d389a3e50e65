"""`tracker watch` follows the journal of a real daemon's book, fed by the simulator.

The watcher runs as its own process, writing to a file, as it would into a pipe: what it
printed is compared with the journal the daemon wrote.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

from harness import TRACKER, Lab, clean_env, eventually, journal, ro_connect, stop_process
from harness.books import BookUnderTest


class Watcher:
    def __init__(self, workdir: Path, db: Path | BookUnderTest, *args: str, name: str) -> None:
        self.out = workdir / f"{name}.out"
        self.err = workdir / f"{name}.err"
        book = ["--db", str(db)] if isinstance(db, Path) else db.reader_args()
        secrets = {} if isinstance(db, Path) else db.reader_env()
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen([*TRACKER, "watch", *book, *args],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=clean_env() | secrets)

    def lines(self) -> list[str]:
        text = self.out.read_text()
        return text[:text.rfind("\n") + 1].splitlines()  # whole lines only

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(10)


def symbols_of(db: Path) -> dict[str, str]:
    conn = ro_connect(db)
    try:
        return {r[0]: r[1] for r in conn.execute("SELECT order_id, symbol FROM orders")}
    finally:
        conn.close()


def test_watch_prints_every_journal_row_in_order_across_a_daemon_restart(lab: Lab) -> None:
    sim = lab.sim("--open-orders", "10", "--rate", "30", "--seed", "5")
    daemon = lab.daemon(sim).start()
    daemon.wait_live()
    watchers = [Watcher(lab.workdir, daemon.db, "--since", "0", name="all"),
                Watcher(lab.workdir, daemon.db, "--since", "0", "--symbol", "btc_usdt",
                        name="btc")]
    try:
        eventually(lambda: len(journal(daemon.db)) > 60, 20, "order flow journaled")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
        high = journal(daemon.db)[-1]["seq"]
        daemon.start()
        daemon.wait_live()
        eventually(lambda: journal(daemon.db)[-1]["seq"] > high + 40, 20,
                   "flow journaled after the restart")
        sim.flow(0)
        daemon.wait_converged(sim)
        rows = journal(daemon.db)
        symbols = symbols_of(daemon.db)

        def caught_up() -> None:
            printed = watchers[0].events()
            assert [e["seq"] for e in printed] == [r["seq"] for r in rows], (
                len(printed), len(rows))
            assert printed == [{"event": "change", **r, "symbol": symbols.get(r["order_id"])}
                               for r in rows]
            btc = [e["seq"] for e in watchers[1].events()]
            assert btc == [r["seq"] for r in rows
                           if symbols.get(r["order_id"]) == "BTC_USDT"], btc

        eventually(caught_up, 20, "both watchers print the whole journal",
                   context=lambda: watchers[0].err.read_text())
        assert rows[0]["seq"] == 1 and len(rows) == rows[-1]["seq"], "the journal has holes"
        assert all(isinstance(r["order_id"], str) for r in watchers[0].events()
                   if r["order_id"] is not None)
        assert [w.stop() for w in watchers] == [0, 0]
    finally:
        for watcher in watchers:
            stop_process(watcher.proc)


def test_watch_reports_pruned_rows_and_prints_the_book_before_going_on(lab: Lab) -> None:
    sim = lab.sim("--open-orders", "15", "--rate", "30", "--seed", "8")
    daemon = lab.daemon(sim, env={"TRACKER_JOURNAL_KEEP_DAYS": str(1.0 / 86_400)}).start()
    daemon.wait_live()

    def pruned() -> int:
        low = journal(daemon.db)[0]["seq"]
        assert low > 20, low
        return low

    eventually(pruned, 30, "retention deletes the seed's journal rows")
    sim.flow(0)
    book = daemon.wait_converged(sim)
    first = journal(daemon.db)[0]["seq"]
    assert first > 2  # rows 2.. were pruned: a watcher that had seen seq 1 missed them
    watcher = Watcher(lab.workdir, daemon.db, "--since", "1", name="late")
    table = Watcher(lab.workdir, daemon.db, "--since", "1", "--format", "table", name="table")
    try:
        def snapshot() -> list[dict[str, Any]]:
            events = watcher.events()
            assert events and len(events) == 1 + events[0]["open_orders"], events[:1]
            return events

        events = eventually(snapshot, 15, "the gap and the snapshot")
        notice, orders = events[0], events[1:]
        assert notice["event"] == "gap" and notice["last_seq"] == 1, notice
        assert notice["first_seq"] >= first and notice["book_id"] == book.state["book_id"]
        assert {o["order_id"] for o in orders} == book.open_ids
        assert all(o["event"] == "snapshot" for o in orders)
        assert {o["order_id"]: (o["size"], o["filled_size"]) for o in orders} == {
            oid: (book.orders[oid]["size"], book.orders[oid]["filled_size"])
            for oid in book.open_ids}
        eventually(lambda: table.lines() and table.lines()[0].startswith(
            f"-- journal rows 2 to {notice['first_seq'] - 1} were deleted by retention"),
            15, "the table says so too", context=lambda: "\n".join(table.lines()[:2]))

        sim.flow(20)  # and then it follows, from the seq the snapshot was taken at
        def followed() -> None:
            changes = watcher.events()[len(events):]
            assert len(changes) >= 10, len(changes)
            seqs = [c["seq"] for c in changes]
            assert seqs == list(range(notice["seq"] + 1, notice["seq"] + 1 + len(seqs)))
            assert {c["event"] for c in changes} == {"change"}

        eventually(followed, 20, "changes after the snapshot")
        assert watcher.stop() == 0 and table.stop() == 0
    finally:
        stop_process(watcher.proc)
        stop_process(table.proc)


def test_watch_since_a_seq_past_the_books_end_says_so_and_prints_the_book(
        lab: Lab, store: BookUnderTest) -> None:
    """A bot's saved seq from another book (or from history the database lost) is past this
    book's end: waiting for the book to reach it would skip every change until then."""
    sim = lab.sim("--open-orders", "6", "--seed", "9")
    daemon = lab.daemon(sim, store=store).start()
    daemon.wait_live()
    book = daemon.wait_converged(sim)
    high = store.journal()[-1]["seq"]
    watcher = Watcher(lab.workdir, store, "--since", str(high + 1000), name="ahead")
    table = Watcher(lab.workdir, store, "--since", str(high + 1000), "--format", "table",
                    name="ahead-table")
    try:
        def snapshot() -> list[dict[str, Any]]:
            events = watcher.events()
            assert events and len(events) == 1 + events[0]["open_orders"], events[:1]
            return events

        events = eventually(snapshot, 15, "the notice and the snapshot",
                            context=lambda: watcher.err.read_text())
        notice, orders = events[0], events[1:]
        assert notice == {"event": "ahead", "book_id": book.state["book_id"],
                          "last_seq": high + 1000, "seq": high, "open_orders": len(orders)}
        assert {o["order_id"] for o in orders} == book.open_ids
        eventually(lambda: table.lines() and table.lines()[0] == (
            f"-- seq {high + 1000} is past the end of this book (a seq of another book?); "
            f"the book at seq {high}: {len(orders)} open orders"), 15, "the table says so")
        sim.flow(10)  # and follows on from the book's own end

        def followed() -> None:
            seqs = [e["seq"] for e in watcher.events()[len(events):]]
            assert len(seqs) >= 3 and seqs == list(range(high + 1, high + 1 + len(seqs))), seqs

        eventually(followed, 20, "changes after the book's end")
        assert [watcher.stop(), table.stop()] == [0, 0]
    finally:
        stop_process(watcher.proc)
        stop_process(table.proc)
