"""Hot standby on a PostgreSQL book, with real daemons: a second tracker for an account
waits on the account's lock and says who is active; when the active one dies it takes over
and goes live; an active tracker cut off from the database while the standby took over
never writes again, and waits as the standby from then on."""

from __future__ import annotations

import signal
import time
from typing import Any

from harness import Daemon, Lab, eventually, logged
from harness.books import PostgresBook
from harness.postgres import Database
from harness.relay import relay_thread
from tests.test_daemon_ops import free_port, scrape
from tracker.postgres import migrate as pg_migrate


def said(daemon: Daemon, name: str, last: bool = False) -> dict[str, Any]:
    found = logged(daemon.log, name)
    assert found, f"no {name} yet"
    return found[-1 if last else 0]


def lockers(book: PostgresBook) -> list[tuple[bool, str]]:
    """The account's lock as the server sees it: (granted, who) for the holder and each
    tracker waiting."""
    rows = book.query(pg_migrate.LOCKERS, book.account)
    return [(r["granted"], r["name"]) for r in rows]


def contiguous(book: PostgresBook) -> None:
    seqs = [r["seq"] for r in book.journal()]
    assert seqs == list(range(1, len(seqs) + 1)), "the journal has a gap or a doubled seq"


def test_a_standby_waits_then_takes_over_when_the_active_dies(
        lab: Lab, pg_database: Database) -> None:
    book = PostgresBook(pg_database, "acct1")
    sim = lab.sim("--open-orders", "40", "--seed", "11", "--rate", "40")
    active = lab.daemon(sim, store=book).start()
    before = active.wait_live()
    port = free_port()
    standby = lab.daemon(sim, store=book, env={"TRACKER_METRICS_PORT": str(port)}).start()
    waiting = eventually(lambda: said(standby, "standby"), 20, "the second says standby",
                         context=standby.tail)
    assert waiting["active"].startswith(f"tracker acct1 pid {active.pid} on "), waiting
    assert [g for g, _ in eventually(lambda: _two(book), 10, "two trackers on the lock")] \
        == [True, False]
    time.sleep(1.0)
    assert standby.alive() and active.book().state["pid"] == active.pid
    roles = scrape(port)
    assert (roles['tracker_role{role="standby"}'], roles['tracker_role{role="active"}']) \
        == (1, 0)
    # `tracker status` from either side tells the truth about both.
    code, status = standby.status()
    assert code == 0 and status["live"], status
    roles = [(t["role"], t["name"].split(" on ")[0]) for t in status["trackers"]]
    assert roles == [("active", f"tracker acct1 pid {active.pid}"),
                     ("standby", f"tracker acct1 pid {standby.pid}")], status["trackers"]

    # A standby killed while it waits leaves the lock's queue: the server checks its socket.
    spare = lab.daemon(sim, store=book).start()
    eventually(lambda: said(spare, "standby"), 20, "a third tracker waits too")
    assert len(eventually(lambda: _count(book, 3), 10, "three on the lock")) == 3
    spare.signal(signal.SIGKILL)
    eventually(lambda: _count(book, 2), 15, "the killed standby leaves the lock's queue")

    active.signal(signal.SIGKILL)
    killed = time.monotonic()
    took = standby.wait_live(timeout=30, epoch_above=before.state["epoch"])
    print(f"standby live {time.monotonic() - killed:.2f} s after the active's SIGKILL")
    assert took.state["pid"] == standby.pid
    assert logged(standby.log, "took_over")
    # It connected when it began to wait; its term as the writer began at the takeover.
    code, status = standby.status()
    (listed,) = [t for t in status["trackers"] if t["role"] == "active"]
    assert listed["writing_since"] == took.state["started_at"] > listed["since"] + 1000
    roles = scrape(port)
    assert (roles['tracker_role{role="standby"}'], roles['tracker_role{role="active"}']) \
        == (0, 1)
    sim.flow(0)
    standby.wait_converged(sim)
    contiguous(book)


def _count(book: PostgresBook, n: int) -> list[tuple[bool, str]]:
    found = lockers(book)
    assert len(found) == n, found
    return found


def _two(book: PostgresBook) -> list[tuple[bool, str]]:
    found = lockers(book)
    assert len(found) == 2, found
    return found


def test_an_active_cut_off_never_writes_again_and_becomes_the_standby(
        lab: Lab, pg_database: Database) -> None:
    book = PostgresBook(pg_database, "acct1")
    sim = lab.sim("--open-orders", "30", "--seed", "12", "--rate", "40")
    with relay_thread(pg_database.port) as relay:
        through = f"postgresql://{pg_database.name}@127.0.0.1:{relay.port}/{pg_database.name}"
        old = lab.daemon(sim, store=book, env={"TRACKER_DB": through}).start()
        first = old.wait_live()
        new = lab.daemon(sim, store=book).start()
        eventually(lambda: said(new, "standby"), 20, "the second waits as standby")
        # Cut the active off: the server sees its connection end and frees the lock; the
        # old active cannot reach the server while the standby takes over.
        relay.within(lambda: setattr(relay, "mode", "down"))
        relay.within(relay.cut)
        took = new.wait_live(timeout=30, epoch_above=first.state["epoch"])
        assert took.state["pid"] == new.pid
        seen = book.journal()
        relay.within(lambda: setattr(relay, "mode", "pass"))
        # The old active reaches the server again: the account is another's now.
        eventually(lambda: said(old, "standby_again"), 30,
                   "the old active gives the account up", context=old.tail)
        waiting = eventually(lambda: said(old, "standby", last=True), 30,
                             "the old active waits as the standby", context=old.tail)
        assert waiting["active"].startswith(f"tracker acct1 pid {new.pid} on "), waiting
        assert old.alive()
        assert not logged(old.log, "db_reconnected"), "the old active wrote on a new connection"
        sim.flow(0)
        new.wait_converged(sim)
        after = book.journal()
        assert after[:len(seen)] == seen
        contiguous(book)
        assert [g for g, name in _two(book)] == [True, False]
        assert _two(book)[0][1].startswith(f"tracker acct1 pid {new.pid} ")
        # The old active takes the account back when the new one dies, with the v2 token
        # it kept from its first turn: the exchange grants five a minute.
        tokens = sim.counter("v2_tokens_issued")
        new.signal(signal.SIGKILL)
        back = old.wait_live(timeout=30, epoch_above=new.book().state["epoch"])
        assert back.state["pid"] == old.pid
        assert sim.counter("v2_tokens_issued") == tokens, "the takeover asked for a token"
