"""A PostgreSQL book through its faults, with the real daemon and a real server: the server
crashing (`pg_ctl stop -m immediate`) during ingest and during a splice, the server frozen
(SIGSTOP) past the queue's bound, a stop while the server is away, a start without it.

Each time the book converges to the exchange's truth, no committed journal row is lost or
doubled, seqs stay contiguous, and while the server is away the daemon says "database
unreachable" where operators look (metrics, the log)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness import TRACKER, Daemon, Lab, clean_env, eventually
from harness.books import PostgresBook
from harness.postgres import Postgres
from harness.profiles import BITMART_V4
from tests.test_daemon_ops import free_port, scrape


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


def test_a_start_without_the_server_says_so(tmp_path: Any, book: PostgresBook) -> None:
    env = clean_env() | book.env() | {"TRACKER_DB": "postgresql://acct@127.0.0.1:1/none",
                                      "TRACKER_API_KEY": "k" * 8, "TRACKER_API_SECRET": "s" * 8,
                                      "TRACKER_API_MEMO": "m" * 8, "TRACKER_SYMBOLS": "BTC_USDT"}
    done = subprocess.run([*TRACKER, "run"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 69, done.stderr
    assert done.stderr.startswith("tracker: db: cannot connect to "
                                  "postgresql://acct@127.0.0.1:1/none: "), done.stderr
    assert book.database.password not in done.stderr
