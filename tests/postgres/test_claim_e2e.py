"""An account's claim against a reader's role, with real daemons: a role that may only read
the book (docs/postgres.md's `book_reader`) can neither hold an account's claim, nor queue
for it, nor keep a tracker waiting under a name it made up, as it could while the claim was
an advisory lock (which any role may take); and a stop ends a tracker that waits, as the
standby or for the migrations' lock, at once."""

from __future__ import annotations

import hashlib
import signal
import time
from typing import Any

import psycopg
import pytest

from harness import Daemon, Lab, eventually, logged
from harness.books import PostgresBook
from harness.postgres import Database, Postgres
from tracker.postgres import migrate as pg_migrate
from tracker.sqlite import migrate

LATEST = migrate.load()[-1][0]
# The claim as it was up to schema 5: advisory keys, which any role may take.
OLD_ACCOUNT_KEY = "SELECT pg_advisory_lock(hashtextextended('tracker account ' || %s, 0))"
OLD_MIGRATION_KEY = int.from_bytes(b"tracker", "big")
SPOOFED = "tracker acct1 pid 4242 on prodhost1"
MODES = ("ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE",
         "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE")


def view(account: str) -> str:
    return f"tracker_claim_{hashlib.sha256(account.encode()).hexdigest()[:16]}"


def waiting(daemon: Daemon) -> dict[str, Any]:
    found = logged(daemon.log, "standby")
    assert found, "no standby yet"
    return found[-1]


def trackers(daemon: Daemon) -> list[tuple[str, str]]:
    code, status = daemon.status()
    assert code == 0, status
    return [(t["role"], t["name"].split(" on ")[0]) for t in status["trackers"]]


def test_a_reader_can_neither_hold_nor_queue_for_the_claim(
        lab: Lab, postgres: Postgres, pg_database: Database) -> None:
    """Before schema 6 the reader's advisory lock kept the tracker waiting as a standby for
    good, shown in `tracker status` as the spoofed 'tracker acct1 ... on prodhost1'."""
    reader = postgres.create_reader(pg_database)
    book = PostgresBook(pg_database, "acct1")
    pg_migrate.migrate(pg_database.url())
    sim = lab.sim("--open-orders", "20", "--seed", "21", "--rate", "30")
    with psycopg.connect(reader, autocommit=True, application_name=SPOOFED) as squatter:
        squatter.execute(OLD_ACCOUNT_KEY, ("acct1",))
        squatter.execute("SELECT pg_advisory_lock(%s)", (OLD_MIGRATION_KEY,))
        active = lab.daemon(sim, store=book).start()
        before = active.wait_live(timeout=30)
        assert not logged(active.log, "standby")
        # All a reader can take of the claim is what a SELECT takes, which excludes nothing
        # but dropping the view; every mode that would exclude another locker is refused
        # before it waits.
        squatter.execute("SET statement_timeout = '5s'")
        for mode in MODES:
            squatter.execute("BEGIN")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                squatter.execute(f"LOCK TABLE {view('acct1')} IN {mode} MODE")
            squatter.execute("ROLLBACK")
        squatter.execute("BEGIN")
        squatter.execute(f"SELECT * FROM {view('acct1')}")
        standby = lab.daemon(sim, store=book, name="standby").start()
        found = eventually(lambda: waiting(standby), 20, "the second tracker waits",
                           context=standby.tail)
        assert found["active"].startswith(f"tracker acct1 pid {active.pid} on "), found
        assert trackers(standby) == [("active", f"tracker acct1 pid {active.pid}"),
                                     ("standby", f"tracker acct1 pid {standby.pid}")]
        active.signal(signal.SIGKILL)
        took = standby.wait_live(timeout=30, epoch_above=before.state["epoch"])
        assert took.state["pid"] == standby.pid
        assert trackers(standby) == [("active", f"tracker acct1 pid {standby.pid}")]
        sim.flow(0)
        standby.wait_converged(sim)


def test_a_stop_ends_a_tracker_waiting_for_the_claim_or_the_migrations_at_once(
        lab: Lab, pg_database: Database) -> None:
    book = PostgresBook(pg_database, "acct1")
    sim = lab.sim("--open-orders", "5", "--seed", "22", "--rate", "10")
    active = lab.daemon(sim, store=book).start()
    active.wait_live()
    standby = lab.daemon(sim, store=book, name="standby").start()
    eventually(lambda: waiting(standby), 20, "the second tracker waits", context=standby.tail)
    stopped = time.monotonic()
    standby.signal(signal.SIGTERM)
    assert standby.wait(timeout=10) == 0, standby.tail()
    assert time.monotonic() - stopped < 5.0  # at once, on a loaded machine

    # A start that has a migration to apply, while another (here the test, as the tracker's
    # role) holds the migrations' lock: it waits, and a stop ends the wait.
    with psycopg.connect(pg_database.url(), autocommit=True) as holder:
        holder.execute("DELETE FROM tracker_schema WHERE version = %s", (LATEST,))
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE tracker_schema IN EXCLUSIVE MODE")
        starter = lab.daemon(sim, store=book, name="starter").start()

        def migrating() -> None:
            rows = book.query("SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND "
                              "relation = 'tracker_schema'::regclass")
            assert rows[0]["n"] == 1, rows
        eventually(migrating, 20, "the start waits for the migrations' lock",
                   context=starter.tail)
        stopped = time.monotonic()
        starter.signal(signal.SIGTERM)
        assert starter.wait(timeout=10) == 0, starter.tail()
        assert time.monotonic() - stopped < 5.0  # at once, on a loaded machine
        assert "Traceback" not in starter.log.read_text()
        holder.execute("ROLLBACK")
    assert active.alive()
