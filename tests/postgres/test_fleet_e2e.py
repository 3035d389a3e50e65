"""A fleet on one PostgreSQL book: desks of accounts on every venue, all on one simulator
process, a tracker for each, all writing one database. Every account's open orders equal
its own truth, the book and the readers name each account's venue, one query shows them
all, the query docs/postgres.md gives for a desk finds its BTC/USDT orders on every venue,
and the change feed carries every account's events. And a fleet with a hot standby for
each account, whose active trackers all die at once."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from harness import TRACKER, Daemon, Lab, clean_env, differences, eventually
from harness.books import PostgresBook
from harness.docs import documented
from harness.postgres import Database
from harness.profiles import PROFILES, VENUES, Profile, of_venue
from harness.sim import SYMBOLS, Sim, account_env, accounts_file
from tracker.postgres.migrate import LOCKERS
from tracker.venues.bitmart.protocol import OPEN_STATES

DESKS = 7  # each with an account on every venue: 21 trackers
DESK = [f"desk1-{venue}" for venue in VENUES]  # the accounts docs/postgres.md's query names


def fleet() -> dict[str, Profile]:
    """Each desk's account on each venue (`desk3-okx`), and the profile it runs: a venue
    of several (BitMart's v2 and v4) takes them in turn from desk to desk."""
    return {f"desk{d}-{venue}": of_venue(venue)[(d - 1) % len(of_venue(venue))]
            for d in range(1, DESKS + 1) for venue in VENUES}


def test_desks_with_accounts_on_every_venue_on_one_simulator_and_one_book(
        lab: Lab, pg_database: Database, tmp_path: Path) -> None:
    profiles = fleet()
    assert {p.name for p in profiles.values()} == {p.name for p in PROFILES}
    accounts = accounts_file(tmp_path / "accounts.json", list(profiles), open_orders=6, rate=3)
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
    for account in accounts:
        profile = profiles[account["name"]]
        daemons[account["name"]] = lab.daemon(
            sim, profile=profile, store=PostgresBook(pg_database, account["name"]),
            env=account_env(account, profile) | {"TRACKER_LOG_LEVEL": "warning"}).start()
    for daemon in daemons.values():
        daemon.wait_live(timeout=120)
    for name in profiles:
        sim.flow(0, account=name)
    _desk_orders(sim)
    for name, daemon in daemons.items():
        eventually(lambda d=daemon, n=name: _exact(d, sim.truth(account=n)), 60,
                   f"{name}'s book equals its truth", interval=0.5, context=daemon.tail)
    done.set()
    listener.join(5)

    # One query, every account: the firm-wide view equals the union of the truths.
    with psycopg.connect(pg_database.url()) as conn:
        rows = conn.execute("SELECT account, order_id FROM open_orders").fetchall()
        venues = dict(conn.execute("SELECT account, venue FROM sync_state").fetchall())
    assert venues == {name: profile.venue for name, profile in profiles.items()}
    seen: dict[str, set[str]] = defaultdict(set)
    for account, order_id in rows:
        seen[account].add(order_id)
    for name in profiles:
        truth = {daemons[name].book_id(o["symbol"], o["orderId"])
                 for o in sim.open_truth(account=name) if o["state"] in OPEN_STATES}
        assert seen[name] == truth, name
        assert truth, f"{name} has no open orders: the test proves little"
    assert sorted(heard) == sorted(profiles), "the change feed missed an account"
    ids = [oid for name in profiles for oid in seen[name]]
    assert len(ids) == len(set(ids)), "an order id in two accounts"

    _readers_name_each_accounts_venue(pg_database, daemons, seen)
    _desk_query_finds_the_desks_orders_on_every_venue(pg_database, sim, profiles)
    assert all(d.alive() for d in daemons.values())


def _desk_orders(sim: Sim) -> None:
    """On each of the desk's accounts, a BTC_USDT order open and one partly filled, so that
    the desk's query has rows of both open states on every venue."""
    for name in DESK:
        sim.place(account=name, symbol="BTC_USDT", side="buy", price="59000", size="0.5")
        partial = sim.place(account=name, symbol="BTC_USDT", side="sell", price="61000",
                            size="0.3")
        sim.fill(partial["orderId"], "0.1", account=name)


def _readers_name_each_accounts_venue(pg_database: Database, daemons: dict[str, Daemon],
                                      seen: dict[str, set[str]]) -> None:
    """`tracker orders --all-accounts` (JSON and table) and each account's `tracker status`
    (text and JSON) name the account's venue. Whether a book is judged live at the moment
    of a read depends on how late its last commit is on a loaded machine: the venue does
    not, and each account's tracker is running (it holds the account)."""
    every = ["--db", pg_database.url(password=False), "--all-accounts"]
    env = clean_env() | {"TRACKER_DB_PASSWORD": pg_database.password}

    def run(*args: str) -> str:
        done = subprocess.run([*TRACKER, *args], capture_output=True, text=True, timeout=60,
                              env=env)
        assert done.returncode in (0, 1) and done.stdout, done  # 1: status, not live now
        return done.stdout

    rows = json.loads(run("orders", *every, "--format", "json"))
    assert {(r["account"], r["order_id"], r["venue"]) for r in rows} == {
        (name, oid, d.profile.venue) for name, d in daemons.items() for oid in seen[name]}
    table = run("orders", *every).splitlines()
    assert table[0].split()[:3] == ["account", "venue", "book"]
    assert {tuple(line.split()[:2]) for line in table[1:1 + len(rows)]} == {
        (name, d.profile.venue) for name, d in daemons.items()}
    for name, daemon in daemons.items():
        text = run("status", *daemon.store.reader_args()).splitlines()
        assert text[1] == f"  venue        {daemon.profile.venue}", (name, text)
        _, state = daemon.status()
        assert (state["venue"], state["running"]) == (daemon.profile.venue, True), (name, state)


def _desk_query_finds_the_desks_orders_on_every_venue(
        pg_database: Database, sim: Sim, profiles: dict[str, Profile]) -> None:
    """The query docs/postgres.md gives, as written: the desk's open BTC/USDT orders on
    every venue, each venue's spelling of the market, each row with its account and venue,
    and nothing of another desk's accounts; amounts and states those of the truth."""
    (desk,) = documented("postgres.md", "One desk's open orders on BTC/USDT, across its "
                                        "accounts on Binance, OKX and BitMart")
    truth = sorted(
        (name, profiles[name].venue, profiles[name].symbol(o["symbol"]),
         profiles[name].book_id(o["symbol"], o["orderId"]), o["side"], Decimal(o["price"]),
         Decimal(o["size"]), Decimal(o["filledSize"]), o["state"])
        for name in DESK for o in sim.open_truth(account=name)
        if o["symbol"] == "BTC_USDT" and o["state"] in OPEN_STATES)

    def found() -> None:
        """A market reaches the book with its tracker's first batch after the venue's list
        is read, which need not come before the book is live."""
        with psycopg.connect(pg_database.url()) as conn:
            rows = conn.execute(desk).fetchall()
        assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # in account order
        assert sorted((*r[:5], *(Decimal(a) for a in r[5:8]), r[8]) for r in rows) == truth
        assert {(r[1], r[8]) for r in rows} == {
            (venue, state) for venue in VENUES for state in OPEN_STATES}, rows

    eventually(found, 30, "the desk's query finds its BTC/USDT orders on every venue",
               interval=0.5)


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
