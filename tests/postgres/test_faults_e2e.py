"""A PostgreSQL book through its faults, with the real daemon and a real server: the server
crashing (`pg_ctl stop -m immediate`) during ingest and during a splice, the server frozen
(SIGSTOP) past the queue's bound, a stop while the server is away, a start without it, a
standby through a restart, a book a newer tracker migrated.

Each time the book converges to the exchange's truth, no committed journal row is lost or
doubled, seqs stay contiguous, and while the server is away the daemon says "database
unreachable" where operators look (metrics, the log)."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import TRACKER, Daemon, Lab, clean_env, eventually, logged
from harness.books import PostgresBook
from harness.postgres import Postgres
from harness.profiles import BITMART_V4
from tests.test_daemon_ops import free_port, scrape
from tracker.postgres.migrate import LOCKERS
from tracker.sqlite import migrate

LATEST = migrate.load()[-1][0]


@pytest.fixture(scope="module")
def own_server() -> Iterator[Postgres]:
    """A server of this module's own: crashing the session's would fail other tests."""
    with Postgres.running() as server:
        yield server


@pytest.fixture
def book(own_server: Postgres) -> PostgresBook:
    return PostgresBook(own_server.create_database(), "acct1")


def contiguous(daemon: Daemon) -> list[dict[str, Any]]:
    rows = daemon.journal()
    seqs = [r["seq"] for r in rows]
    assert seqs == list(range(1, len(seqs) + 1)), "the journal has a gap or a doubled seq"
    return rows


def kept(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> None:
    """Every row a reader saw before the fault is still there, unchanged."""
    assert after[:len(before)] == before, "a committed journal row was lost or changed"


@pytest.mark.parametrize("moment", ["ingest", "splice"])
def test_a_server_crash_loses_and_doubles_nothing(lab: Lab, own_server: Postgres,
                                                  book: PostgresBook, moment: str) -> None:
    port = free_port()
    sim = lab.sim("--open-orders", "200", "--seed", "7", "--rate", "80")
    daemon = lab.daemon(sim, profile=BITMART_V4, store=book,
                        env={"TRACKER_METRICS_PORT": str(port)}).start()
    live = daemon.wait_live()
    if moment == "splice":
        sim.drop("abort")  # the daemon re-seeds 600 orders, page by page
        eventually(lambda: daemon.book().state["status"].startswith(("splicing", "seeding")),
                   10, "a splice is under way", interval=0.02)
    seen = daemon.journal()
    own_server.crash()
    try:
        def unreachable() -> None:
            metrics = scrape(port)
            assert metrics['tracker_not_live_reason{reason="database_unreachable"}'] == 1
            assert metrics["tracker_book_live"] == 0

        eventually(unreachable, 15, "the metrics say the database is unreachable",
                   interval=0.2, context=daemon.tail)
        assert daemon.alive(), "the daemon must outlive its database"
    finally:
        own_server.restart()
    daemon.wait_live(timeout=60, epoch_above=live.state["epoch"] if moment == "splice" else 0)
    sim.flow(0)
    daemon.wait_converged(sim, timeout=60)
    kept(seen, contiguous(daemon))
    log = daemon.log.read_text()
    assert '"db_unreachable"' in log and '"db_reconnected"' in log
    assert book.database.password not in log


def test_a_frozen_server_past_the_queue_bound_is_spliced_again(
        lab: Lab, own_server: Postgres, book: PostgresBook) -> None:
    port = free_port()
    sim = lab.sim("--open-orders", "20", "--seed", "8", "--rate", "150")
    daemon = lab.daemon(sim, store=book, env={"TRACKER_QUEUE_MAX": "100",
                                              "TRACKER_METRICS_PORT": str(port)}).start()
    before = daemon.wait_live()
    seen = daemon.journal()
    frozen = own_server.freeze()
    try:
        eventually(lambda: scrape(port)["tracker_events_dropped_total"] > 0, 20,
                   "pushes past the queue's bound are dropped", interval=0.2,
                   context=daemon.tail)
        time.sleep(1.0)
        assert scrape(port)["tracker_event_queue_depth"] <= 100 + 10
    finally:
        own_server.thaw(frozen)
    # The pushes dropped are read again from the exchange: a new splice, then exact.
    daemon.wait_live(timeout=60, epoch_above=before.state["epoch"])
    sim.flow(0)
    daemon.wait_converged(sim, timeout=60)
    kept(seen, contiguous(daemon))
    assert '"queue_overflow"' in daemon.log.read_text()


@pytest.mark.parametrize("fault", ["down", "frozen"])
def test_a_stop_ends_within_its_bound_while_the_server_is_away(
        lab: Lab, own_server: Postgres, book: PostgresBook, fault: str) -> None:
    """Down, the connection is refused at once; frozen, a commit waits for an answer that
    does not come, and the stop must cut that wait short too."""
    sim = lab.sim("--open-orders", "5", "--seed", "10", "--rate", "30")
    daemon = lab.daemon(sim, store=book, env={"TRACKER_STOP_TIMEOUT": "2"}).start()
    daemon.wait_live()
    frozen: list[int] = []
    if fault == "frozen":
        frozen = own_server.freeze()
    else:
        own_server.crash()
    try:
        time.sleep(1.0)
        started = time.monotonic()
        daemon.signal(signal.SIGTERM)
        code = daemon.wait(timeout=30)
        elapsed = time.monotonic() - started
        assert code == 74, f"exit {code}: {daemon.tail(10)}"
        assert elapsed < 2 + 3, f"the stop took {elapsed:.1f} s"
        assert '"stop_unwritten"' in daemon.log.read_text()
    finally:
        if frozen:
            own_server.thaw(frozen)
        else:
            own_server.restart()
    daemon.start()
    daemon.wait_live()
    daemon.wait_converged(sim)
    contiguous(daemon)


def test_a_start_waits_for_the_server_and_a_stop_ends_the_wait(
        lab: Lab, own_server: Postgres, book: PostgresBook) -> None:
    """A start (schema to make, claim to take) while the server is down waits for it with
    back-off, saying so once, instead of exiting 69 (which systemd's StartLimitBurst turned
    into a unit failed for good); once the server is back it goes live."""
    sim = lab.sim("--open-orders", "10", "--seed", "13", "--rate", "20")
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(lab.workdir / "notify"))
    own_server.crash()
    try:
        daemon = lab.daemon(sim, store=book, env={"NOTIFY_SOCKET": str(lab.workdir / "notify"),
                                                  "WATCHDOG_USEC": "1000000"}).start()
        eventually(lambda: found(daemon.log, "db_unreachable"), 20,
                   "the start says the database is unreachable", context=daemon.tail)
        time.sleep(3.0)
        assert daemon.alive(), daemon.tail()
        assert len(logged(daemon.log, "db_unreachable")) == 1
        # systemd hears it started (no start timeout, no restart loop), why it is not live,
        # and the watchdog's pings while it waits.
        told = []
        with contextlib.suppress(BlockingIOError):
            while True:
                told.append(systemd.recv(4096, socket.MSG_DONTWAIT).decode())
        assert told[0].startswith("READY=1\nSTATUS=NOT LIVE: waiting for the database: "
                                  "unreachable (connection failed: "), told
        assert told.count("WATCHDOG=1") >= 2, told
    finally:
        own_server.restart()
        systemd.close()
    daemon.wait_live(timeout=30)
    assert logged(daemon.log, "db_reconnected")
    assert book.database.password not in daemon.log.read_text()

    # A server that never comes: the wait goes on, and a stop ends it at once, exit 0.
    env = clean_env() | book.env() | {"TRACKER_DB": "postgresql://acct@127.0.0.1:1/none",
                                      "TRACKER_API_KEY": "k" * 8, "TRACKER_API_SECRET": "s" * 8,
                                      "TRACKER_API_MEMO": "m" * 8, "TRACKER_SYMBOLS": "BTC_USDT"}
    err = lab.workdir / "nowhere.err"
    with err.open("wb") as sink:
        proc = subprocess.Popen([*TRACKER, "run"], env=env, stdout=subprocess.DEVNULL,
                                stderr=sink)
    try:
        said = eventually(lambda: found(err, "db_unreachable"), 20, "the wait is said")
        assert said[0]["error"].startswith("connection failed: "), said
        time.sleep(1.0)
        assert proc.poll() is None
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - stopped < 5.0  # at once, on a loaded machine
    finally:
        proc.kill()
    text = err.read_text()
    assert text.count('"db_unreachable"') == 1 and "Traceback" not in text
    assert book.database.password not in text


def test_a_standby_outlives_a_server_restart_and_a_terminated_connection(
        lab: Lab, own_server: Postgres, book: PostgresBook) -> None:
    """It used to exit 69 at either. It waits and reconnects instead, waits for the claim
    again, and takes the account over when the active tracker dies."""
    sim = lab.sim("--open-orders", "20", "--seed", "14", "--rate", "30")
    first = lab.daemon(sim, store=book).start()
    first.wait_live()
    second = lab.daemon(sim, store=book, name="second").start()
    eventually(lambda: found(second.log, "standby"), 20, "the second waits",
               context=second.tail)
    daemons = {first.pid: first, second.pid: second}

    own_server.crash()
    try:
        time.sleep(2.0)
        assert first.alive() and second.alive(), second.tail()
    finally:
        own_server.restart()
    # Either may hold the account now: both reconnected, and the first to claim it writes.
    active, standby = eventually(lambda: steady(book), 60, "one active and one standby again",
                                 context=second.tail)
    assert {active, standby} == set(daemons)
    reconnected = len(logged(daemons[standby].log, "db_reconnected"))
    # The server ends the standby's waiting connection (an operator, a pooler, a failover).
    with own_server.connect(book.database.name) as su:
        waiter = [r["pid"] for r in book.query(LOCKERS, book.account) if not r["granted"]]
        su.execute("SELECT pg_terminate_backend(%s)", waiter)
    assert eventually(lambda: steady(book, other_than=waiter[0]), 60,
                      "the standby waits again on a new connection",
                      context=daemons[standby].tail) == (active, standby)
    assert first.alive() and second.alive()
    assert len(logged(daemons[standby].log, "db_reconnected")) == reconnected + 1
    for daemon in daemons.values():
        assert "Traceback" not in daemon.log.read_text()

    before = daemons[active].book()
    daemons[active].signal(signal.SIGKILL)
    took = daemons[standby].wait_live(timeout=30, epoch_above=before.state["epoch"])
    assert took.state["pid"] == standby
    sim.flow(0)
    daemons[standby].wait_converged(sim, timeout=60)
    contiguous(daemons[standby])


def found(log: Path, event: str) -> list[dict[str, Any]]:
    lines = logged(log, event)
    assert lines, f"no {event} yet"
    return lines


def steady(book: PostgresBook, other_than: int | None = None) -> tuple[int, int]:
    """The daemons' pids (from their connections' names), active first, when one holds the
    account's claim and one waits for it, the same backends over 2.5 s (a writer
    reconnecting waits for the claim too, for 2 s at most)."""
    rows = book.query(LOCKERS, book.account)
    assert [r["granted"] for r in rows] == [True, False], rows
    assert other_than not in {r["pid"] for r in rows}, rows
    time.sleep(2.5)
    again = book.query(LOCKERS, book.account)
    assert [(r["pid"], r["granted"]) for r in again] == [(r["pid"], r["granted"]) for r in rows]
    active, standby = (int(r["name"].split(" pid ")[1].split()[0]) for r in rows)
    return active, standby


def test_a_book_at_a_newer_schema_ends_the_tracker_with_one_line(
        lab: Lab, own_server: Postgres, book: PostgresBook) -> None:
    """Reconnecting to a book a newer tracker migrated used to retry for ever, advising
    `tracker migrate` (which refuses): it exits 78, at a reconnect as at a start."""
    sim = lab.sim("--open-orders", "5", "--seed", "15", "--rate", "20")
    daemon = lab.daemon(sim, store=book).start()
    daemon.wait_live()
    with own_server.connect(book.database.name) as su:
        su.execute("INSERT INTO tracker_schema (version) VALUES (%s)", (LATEST + 1,))
        su.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE application_name LIKE 'tracker acct1 pid %'")
    line = (f"tracker: db: {book.database.url(password=False)}: the book is at schema "
            f"{LATEST + 1}, newer than this tracker's {LATEST}: upgrade the tracker")
    assert daemon.wait(timeout=30) == 78, daemon.tail()
    assert daemon.log.read_text().splitlines()[-1] == line
    daemon.start()
    assert daemon.wait(timeout=30) == 78, daemon.tail()
    assert daemon.log.read_text().splitlines()[-1] == line
