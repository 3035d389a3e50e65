"""A fleet on one PostgreSQL book: twenty accounts on one simulator, a tracker for each
(v2 and v4 alternating), all writing one database. Every account's open orders equal its
own truth, one query shows them all, and the change feed carries every account's events.
And a fleet with a hot standby for each account, whose active trackers all die at once."""

from __future__ import annotations

import json
import signal
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg

from harness import Daemon, Lab, differences, eventually
from harness.books import PostgresBook
from harness.postgres import Database
from harness.profiles import PROFILES
from harness.sim import SYMBOLS, account_env, accounts_file
from tracker.postgres.migrate import LOCKERS
from tracker.venues.bitmart.protocol import OPEN_STATES

FLEET = 20


def test_twenty_accounts_one_book(lab: Lab, pg_database: Database, tmp_path: Path) -> None:
    accounts = accounts_file(tmp_path / "accounts.json", FLEET, open_orders=6, rate=3)
    names = [a["name"] for a in accounts]
    sim = lab.sim("--accounts", str(tmp_path / "accounts.json"), "--seed", "21")
    heard: dict[str, int] = defaultdict(int)
    listening = threading.Event()
    done = threading.Event()

    def listen() -> None:
        with psycopg.connect(pg_database.url(), autocommit=True) as conn:
            conn.execute("LISTEN tracker_book")
            listening.set()
            while not done.is_set():
                for note in conn.notifies(timeout=0.5):
                    heard[json.loads(note.payload)["account"]] += 1

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert listening.wait(10)
    daemons = {}
    for i, account in enumerate(accounts):
        profile = PROFILES[i % len(PROFILES)]
        daemons[account["name"]] = lab.daemon(
            sim, profile=profile, store=PostgresBook(pg_database, account["name"]),
            env=account_env(account, profile) | {"TRACKER_LOG_LEVEL": "warning"}).start()
    for daemon in daemons.values():
        daemon.wait_live(timeout=120)
    for name in names:
        sim.flow(0, account=name)
    for name, daemon in daemons.items():
        eventually(lambda d=daemon, n=name: _exact(d, sim.truth(account=n)), 60,
                   f"{name}'s book equals its truth", interval=0.5, context=daemon.tail)
    done.set()
    listener.join(5)

    # One query, every account: the firm-wide view equals the union of the truths.
    with psycopg.connect(pg_database.url()) as conn:
        rows = conn.execute("SELECT account, order_id FROM open_orders").fetchall()
    seen: dict[str, set[str]] = defaultdict(set)
    for account, order_id in rows:
        seen[account].add(order_id)
    for name in names:
        truth = {daemons[name].book_id(o["symbol"], o["orderId"])
                 for o in sim.open_truth(account=name) if o["state"] in OPEN_STATES}
        assert seen[name] == truth, name
        assert truth, f"{name} has no open orders: the test proves little"
    assert sorted(heard) == sorted(names), "the change feed missed an account"
    ids = [oid for name in names for oid in seen[name]]
    assert len(ids) == len(set(ids)), "an order id in two accounts"
    assert all(d.alive() for d in daemons.values())


def test_a_fleet_with_a_standby_for_each_account_survives_losing_every_active(
        lab: Lab, pg_database: Database, tmp_path: Path) -> None:
    """Six accounts, each with an active tracker and a standby, under order flow; every
    active is SIGKILLed at once. Each standby takes its own account (not another's), goes
    live, and its book equals its account's truth, with the journal contiguous."""
    accounts = accounts_file(tmp_path / "accounts.json", 6, open_orders=6, rate=4)
    sim = lab.sim("--accounts", str(tmp_path / "accounts.json"), "--seed", "22")
    books = {a["name"]: PostgresBook(pg_database, a["name"]) for a in accounts}

    def tracker(i: int, account: dict[str, Any]) -> Daemon:
        profile = PROFILES[i % len(PROFILES)]
        return lab.daemon(sim, profile=profile, store=books[account["name"]],
                          env=account_env(account, profile) | {"TRACKER_LOG_LEVEL": "warning"})

    actives = {a["name"]: tracker(i, a).start() for i, a in enumerate(accounts)}
    epochs = {name: d.wait_live(timeout=120).state["epoch"] for name, d in actives.items()}
    standbys = {a["name"]: tracker(i, a).start() for i, a in enumerate(accounts)}
    for name, standby in standbys.items():
        eventually(lambda b=books[name]: _waiting(b), 30, f"{name}'s standby waits",
                   context=standby.tail)
    for active in actives.values():
        active.signal(signal.SIGKILL)
    for name, standby in standbys.items():
        took = standby.wait_live(timeout=60, epoch_above=epochs[name])
        assert took.state["pid"] == standby.pid, name
    for name in books:
        sim.flow(0, account=name)
    for name, standby in standbys.items():
        eventually(lambda d=standby, n=name: _exact(d, sim.truth(account=n)), 60,
                   f"{name}'s book equals its truth after the takeover", interval=0.5,
                   context=standby.tail)
        seqs = [r["seq"] for r in books[name].journal()]
        assert seqs == list(range(1, len(seqs) + 1)), f"{name}'s journal has a gap"
        holders = [r["pid"] for r in books[name].query(LOCKERS, name) if r["granted"]]
        assert len(holders) == 1, (name, holders)
    assert all(d.alive() for d in standbys.values())


def _waiting(book: PostgresBook) -> None:
    granted = [r["granted"] for r in book.query(LOCKERS, book.account)]
    assert granted == [True, False], granted


def _exact(daemon: Daemon, truth: dict[str, dict[str, Any]]) -> None:
    problems = differences(daemon.book(), daemon.profile.keyed(truth),
                           daemon.profile.symbols(SYMBOLS))
    assert not problems, problems[:5]
