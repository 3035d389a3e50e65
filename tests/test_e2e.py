"""End to end: `tracker run` and `tracker sim` as real subprocesses, over real sockets.

Every test drives the simulator through its control API, lets the daemon follow, and then
compares the book (read-only, as other processes read it) with the simulator's ground
truth: the open sets are equal and every order the book holds shows the truth's state and
filled size. Waits poll against deadlines; nothing sleeps in place of a check.

Each test runs on both backends (the `store` fixture: an SQLite file, or one account of a
PostgreSQL database); what exists in one backend only (a file's integrity check, a path
with odd characters) is checked there, with the other backend's equivalent beside it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from harness import (
    CREDENTIALS,
    TRACKER,
    BookView,
    Daemon,
    Lab,
    Sim,
    clean_env,
    eventually,
    ro_connect,
    run_once,
)
from harness.books import BookUnderTest, PostgresBook, SqliteBook
from harness.postgres import client_env
from harness.profiles import BITMART_V2, BITMART_V4, OKX, PROFILES, Profile
from tracker.postgres.migrate import LOCKERS
from tracker.venues.bitmart.protocol import OPEN_STATES

EVERY_PROFILE = pytest.mark.parametrize("profile", PROFILES, ids=str)
# How the simulator writes amounts: as captured from the live exchange, or as in BitMart's
# documentation examples. The book must keep either exactly.
BOTH_STYLES = pytest.mark.parametrize("amounts", ["minimal", "padded"])
POSITIONAL = re.compile(r"[0-9]+(\.[0-9]+)?")

def injected(sim: Sim, kind: str) -> int:
    return int(sim.stats()["injected"].get(kind, 0))


# The simulator's lot per symbol (its size scale): with minimal amounts, the size's text
# no longer shows it ("1" may be 1.00000 BTC).
LOT = {"BTC_USDT": Decimal("0.00001"), "ETH_USDT": Decimal("0.0001"), "BMX_ETH": Decimal(1)}


def half(order: dict[str, Any]) -> Decimal:
    """Half the order's remaining size, in whole lots."""
    size, filled = Decimal(order["size"]), Decimal(order["filledSize"])
    return ((size - filled) / 2).quantize(LOT[order["symbol"]], rounding=ROUND_DOWN)


def change_during_outage(sim: Sim, n: int = 3) -> dict[str, list[str]]:
    """Cancel, fill wholly, fill in part, and create `n` orders each (pushes may be lost)."""
    opened = sorted(sim.open_truth(), key=lambda o: o["orderId"])
    splittable = [o for o in opened if half(o) > 0]
    partial = splittable[:n]
    rest = [o for o in opened if o not in partial]
    assert len(partial) == n and len(rest) >= 2 * n, "not enough open orders to change"
    cancel, fill = rest[:n], rest[n:2 * n]
    for order in cancel:
        sim.cancel(order["orderId"])
    for order in fill:
        sim.fill(order["orderId"])
    for order in partial:
        sim.fill(order["orderId"], str(half(order)))
    created = [sim.place()["orderId"] for _ in range(n)]
    return {"canceled": [o["orderId"] for o in cancel], "filled": [o["orderId"] for o in fill],
            "partial": [o["orderId"] for o in partial], "created": created}


def applied_sources(daemon: Daemon, order_id: str, sim: Sim | None = None) -> list[str]:
    """The sources of an order's applied updates; with `sim`, `order_id` is the simulator's
    (the book's is the venue's own: `Daemon.book_id`)."""
    if sim is not None:
        order_id = daemon.book_id(sim.truth()[order_id]["symbol"], order_id)
    return [e["source"] for e in daemon.journal(order_id) if e["outcome"] == "applied"]


def reader_env() -> dict[str, str]:
    """A reader's environment: nothing of the caller's tracker or libpq settings."""
    return client_env(clean_env())


def assert_as_the_exchange_wrote(daemon: Daemon, sim: Sim) -> None:
    """Every amount in the book, its journal and `tracker orders` (json, csv) is the
    exchange's own text, and every id its 18 digits, as text."""
    book, truth = daemon.book(), sim.truth()
    for oid, row in book.orders.items():
        t = truth[oid]
        assert len(oid) == 18 and oid.isdigit() and int(oid) > 2**53, oid
        assert (row["price"], row["size"], row["filled_size"]) == (
            t["price"], t["size"], t["filledSize"]), oid
        if row["filled_notional"] is not None:
            assert row["filled_notional"] == t["filledNotional"], oid
    for event in daemon.journal():
        assert event["filled_size"] is None or POSITIONAL.fullmatch(event["filled_size"])
    env, where = reader_env() | daemon.store.reader_env(), daemon.store.reader_args()
    shown = run_once(env, "orders", *where, "--format", "json")
    as_csv = run_once(env, "orders", *where, "--format", "csv")
    assert shown.returncode == as_csv.returncode == 0, shown.stderr + as_csv.stderr
    for rows in (json.loads(shown.stdout), list(csv.DictReader(io.StringIO(as_csv.stdout)))):
        assert {r["order_id"] for r in rows} == book.open_ids
        for r in rows:
            t = truth[r["order_id"]]
            assert (r["price"], r["size"], r["filled_size"]) == (
                t["price"], t["size"], t["filledSize"]), r


# 1 -------------------------------------------------------------------------------------


@EVERY_PROFILE
def test_clean_start_with_a_large_book_under_flow(lab: Lab, profile: Profile,
                                                  store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "400", "--rate", "100", "--seed", "1")
    daemon = lab.daemon(sim, profile=profile, store=store).start()
    book = daemon.wait_live(timeout=60)
    assert book.state["api"] == profile.label and book.state["epoch"] == 1
    # 1200 open orders: BitMart's seed read pages of 100, while orders changed; Binance's
    # one unpaginated list per symbol.
    assert sim.counter("rest_requests") >= (12 if profile.paged else 3)
    assert book.state["last_seed_orders"] >= 1000
    sim.flow(0)
    book = daemon.wait_converged(sim)
    assert len(book.open_ids) > 1000
    code, status = daemon.status()
    assert code == 0, status
    assert status["live"] == 1 and status["running"] is True and status["exit_code"] == 0
    assert status["open_orders"] == len(book.open_ids)
    assert status["status"].startswith("live")


# 2 -------------------------------------------------------------------------------------


@BOTH_STYLES
def test_live_changes_appear_exactly(lab: Lab, amounts: str, store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "5", "--seed", "2", "--amounts", amounts)
    daemon = lab.daemon(sim, profile=BITMART_V4, store=store).start()
    daemon.wait_live()
    a = sim.place(symbol="BTC_USDT", side="buy", price="59000", size="0.5",
                  client_order_id="e2eA1")["orderId"]
    b = sim.place(symbol="ETH_USDT", side="sell", price="3100", size="2")["orderId"]
    c = sim.place(symbol="BMX_ETH", side="buy", price="0.000110", size="1000")["orderId"]
    d = sim.place(symbol="BTC_USDT", side="sell", price="61000", size="0.3")["orderId"]
    sim.fill(a, "0.1")
    sim.fill(a, "0.15")
    sim.fill(b)
    sim.cancel(c)
    sim.fill(d, "0.2")
    sim.cancel(d)
    market_buy = sim.place(type="market", symbol="ETH_USDT", side="buy",
                           notional="500")["orderId"]
    market_sell = sim.place(type="market", symbol="BMX_ETH", side="sell",
                            size="100")["orderId"]
    seeded = sorted(o["orderId"] for o in sim.open_truth() if o["orderId"] != a)
    sim.cancel(seeded[0])
    sim.fill(seeded[1], str(half(sim.truth()[seeded[1]])))

    book = daemon.wait_converged(sim)
    truth = sim.truth()
    expected = {a: ("partially_filled", "0.25"), b: ("filled", "2"), c: ("canceled", "0"),
                d: ("partially_canceled", "0.2"), market_sell: ("filled", "100"),
                market_buy: ("partially_canceled", truth[market_buy]["filledSize"])}
    for oid, (state, filled) in expected.items():
        row = book.orders[oid]
        assert (row["state"], Decimal(row["filled_size"])) == (state, Decimal(filled)), oid
        assert (oid in book.open_ids) == (state in OPEN_STATES)
    assert Decimal(truth[market_buy]["filledSize"]) > 0
    assert book.orders[a]["client_order_id"] == "e2eA1"
    assert book.orders[market_buy]["type"] == "market"

    # The journal: one applied push per change, in the order they happened.
    def applied(oid: str) -> list[tuple[str, Decimal]]:
        rows = [e for e in daemon.journal(oid) if e["outcome"] == "applied"]
        assert all(e["source"] == "push" for e in rows), rows
        return [(e["state"], Decimal(e["filled_size"])) for e in rows]

    zero = Decimal(0)
    assert applied(a) == [("new", zero), ("partially_filled", Decimal("0.1")),
                          ("partially_filled", Decimal("0.25"))]
    assert applied(b) == [("new", zero), ("filled", Decimal(2))]
    assert applied(c) == [("new", zero), ("canceled", zero)]
    assert applied(d) == [("new", zero), ("partially_filled", Decimal("0.2")),
                          ("partially_canceled", Decimal("0.2"))]
    bought = Decimal(truth[market_buy]["filledSize"])
    assert applied(market_buy) == [("new", zero), ("partially_filled", bought),
                                   ("partially_canceled", bought)]
    assert applied(market_sell) == [("new", zero), ("filled", Decimal(100))]
    assert applied_sources(daemon, seeded[0]) == ["seed_v4", "push"]
    assert book.state["epoch"] == 1 and book.state["invalid"] == 0
    assert_as_the_exchange_wrote(daemon, sim)


@BOTH_STYLES
def test_v2_seed_keeps_ids_and_amounts_exact(lab: Lab, amounts: str, store: BookUnderTest) -> None:
    """v2 writes 18-digit ids as JSON numbers; the book holds them as the same digits."""
    sim = lab.sim("--open-orders", "8", "--seed", "14", "--amounts", amounts)
    for order in sim.open_truth()[:4]:
        sim.fill(order["orderId"], str(half(order)) if half(order) > 0 else None)
    daemon = lab.daemon(sim, profile=BITMART_V2, store=store).start()
    daemon.wait_live()
    daemon.wait_converged(sim)
    assert_as_the_exchange_wrote(daemon, sim)


# 3 -------------------------------------------------------------------------------------


@EVERY_PROFILE
def test_changes_during_a_disconnect_are_spliced_in(lab: Lab, profile: Profile,
                                                    store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "30", "--seed", "3")
    daemon = lab.daemon(sim, profile=profile, store=store).start()
    daemon.wait_live()
    before = daemon.wait_converged(sim)
    sim.faults(push_drop=1.0)
    changed = change_during_outage(sim, 4)
    assert injected(sim, "push_drop") >= 4 * 4
    sim.drop("abort")
    sim.faults(push_drop=0.0)
    daemon.wait_live(epoch_above=before.state["epoch"])
    book = daemon.wait_converged(sim)
    assert book.state["reconnects"] >= 1 and book.state["epoch"] > before.state["epoch"]
    for oid in changed["canceled"] + changed["filled"]:
        # Gone from the snapshot, nothing pushed: the order detail told its fate.
        assert applied_sources(daemon, oid, sim)[-1] == profile.detail_source, oid
    for oid in changed["partial"] + changed["created"]:
        assert applied_sources(daemon, oid, sim)[-1] == profile.seed_source, oid


# 4 -------------------------------------------------------------------------------------


def test_duplicated_delayed_reordered_then_dropped_pushes(lab: Lab, store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "50", "--rate", "80", "--seed", "4")
    daemon = lab.daemon(sim, store=store).start()
    daemon.wait_live()
    sim.faults(push_duplicate=0.3, push_delay_ms=300, push_reorder=0.3)

    def faults_fired() -> None:
        fired = sim.stats()["injected"]
        assert fired.get("push_duplicate", 0) >= 20 and fired.get("push_reorder", 0) >= 20, fired

    eventually(faults_fired, 30, "duplicate and reorder faults fire")
    sim.flow(0)
    book = daemon.wait_converged(sim)
    # Order independence and idempotence did it all: no splice was needed.
    assert (book.state["epoch"], book.state["splices"], book.state["reconnects"]) == (1, 1, 0)

    def counted() -> Counter[tuple[str, str]]:
        """The counter and the journal agree once the last delayed duplicate has landed
        (converged is not quiet: a duplicate of a push already applied changes nothing)."""
        outcomes = Counter((e["source"], e["outcome"]) for e in daemon.journal())
        duplicates = sum(n for (_, o), n in outcomes.items() if o == "duplicate")
        assert daemon.book().state["duplicate"] == duplicates, outcomes
        return outcomes

    outcomes = eventually(counted, 10, "sync_state's duplicate counter equals the journal's")
    assert outcomes["push", "duplicate"] >= 20, outcomes
    assert outcomes["push", "invalid"] == 0

    # Lost pushes cannot be repaired from the stream; the splice after a reconnect does it.
    sim.faults(push_duplicate=0.0, push_delay_ms=0, push_reorder=0.0, push_drop=0.3)
    sim.flow(80)
    eventually(lambda: _at_least(injected(sim, "push_drop"), 30), 30, "pushes are dropped")
    sim.flow(0)
    sim.drop("abort")
    daemon.wait_live(epoch_above=1)
    book = daemon.wait_converged(sim)
    assert book.state["reconnects"] >= 1


def _at_least(value: int, floor: int) -> None:
    assert value >= floor, f"{value} < {floor}"


# 5 -------------------------------------------------------------------------------------


def test_token_expiry_is_routine(lab: Lab, store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "20", "--seed", "5", "--faults", '{"token_ttl_s": 5}')
    daemon = lab.daemon(sim, profile=BITMART_V2, store=store).start()
    epoch = daemon.wait_live().state["epoch"]
    rounds = 3
    for _ in range(rounds):
        sim.faults(push_drop=1.0)
        change_during_outage(sim, 1)
        assert sim.expire_tokens() >= 1
        sim.drop("abort")
        sim.faults(push_drop=0.0)
        epoch = daemon.wait_live(epoch_above=epoch).state["epoch"]
        daemon.wait_converged(sim)
    counters = sim.stats()["counters"]
    # One token at start and one per expiry (a TTL may add one): far below the 5 a minute
    # past which the exchange refuses, and none refused.
    assert rounds + 1 <= counters["v2_tokens_issued"] <= 5, counters
    assert counters.get("v2_token_refused", 0) == 0, counters
    log = daemon.log.read_text()
    assert '"seed_failed"' not in log, daemon.tail()


# 6 -------------------------------------------------------------------------------------


# The slowest test here (15 s a run): PostgreSQL with v4 only, since which profile fails its
# REST calls does not reach the store.
@pytest.mark.parametrize(("profile", "backend"),
                         [(BITMART_V2, "sqlite"), (BITMART_V4, "sqlite"),
                          (BITMART_V4, "postgres")],
                         ids=["bitmart-v2-sqlite", "bitmart-v4-sqlite", "bitmart-v4-postgres"],
                         indirect=["backend"])
def test_rest_errors_and_429s_during_a_resplice(lab: Lab, profile: Profile,
                                                store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "60", "--seed", "6")
    daemon = lab.daemon(sim, profile=profile, store=store,
                        env={"TRACKER_REST_TIMEOUT": "0.5"}).start()
    epoch = daemon.wait_live().state["epoch"]
    sim.faults(push_drop=1.0)
    change_during_outage(sim, 3)
    # First every REST call times out (the clock check that opens a seed too), then calls
    # fail at random.
    sim.faults(rest_slow_ms=800)
    calls = sim.counter("rest_requests")
    sim.drop("abort")
    sim.faults(push_drop=0.0)
    eventually(lambda: _at_least(sim.counter("rest_requests"), calls + 3), 20,
               "seeds are tried while every call times out", context=daemon.tail)
    sim.faults(rest_5xx=0.3, rest_429=0.3, rest_slow_ms=50)
    daemon.wait_live(epoch_above=epoch, timeout=60)
    book = daemon.wait_converged(sim, timeout=60)
    fired = sim.stats()["injected"]
    assert fired.get("rest_5xx", 0) > 0 and fired.get("rest_429", 0) > 0, fired
    assert '"rest_retry"' in daemon.log.read_text()
    assert book.state["live"] == 1


@EVERY_PROFILE
def test_server_clock_minutes_off(lab: Lab, profile: Profile, store: BookUnderTest) -> None:
    # Logins and signed calls must be stamped within a minute of the server's clock.
    sim = lab.sim("--open-orders", "10", "--seed", "12", "--faults", '{"clock_skew_ms": 90000}')
    daemon = lab.daemon(sim, profile=profile, store=store).start()
    epoch = daemon.wait_live(timeout=20).state["epoch"]
    daemon.wait_converged(sim)
    # The server's clock jumps three minutes back while the daemon is connected.
    sim.faults(clock_skew_ms=-90000, push_drop=1.0)
    change_during_outage(sim, 2)
    sim.drop("abort")
    sim.faults(push_drop=0.0)
    daemon.wait_live(epoch_above=epoch, timeout=20)
    daemon.wait_converged(sim)
    assert sim.counter("ws_login_failed") <= 4  # one refusal per jump, then it measures


# 7 -------------------------------------------------------------------------------------


def test_vanished_order_stays_visible_until_the_exchange_knows(lab: Lab,
                                                               store: BookUnderTest) -> None:
    lag_ms = 4000
    sim = lab.sim("--open-orders", "10", "--seed", "7")
    daemon = lab.daemon(sim, profile=BITMART_V2, store=store).start()
    daemon.wait_live()
    victim = sorted(o["orderId"] for o in sim.open_truth())[0]
    eventually(lambda: _in(victim, daemon.book().open_ids), 10, "the victim is in the book")
    sim.faults(push_drop=1.0, rest_lag_ms=lag_ms)
    canceled = sim.cancel(victim)
    assert canceled["state"] == "canceled"
    sim.drop("abort")
    sim.faults(push_drop=0.0)

    # Absent from the snapshot, unknown to the order detail: visible, flagged unresolved.
    seen: list[tuple[int, str, int]] = []

    def unresolved() -> None:
        book = daemon.book()
        row = book.orders[victim]
        seen.append((int(time.time() * 1000), row["state"], row["unresolved"]))
        assert row["unresolved"] == 1, f"victim is {row['state']}, unresolved={row['unresolved']}"
        assert victim in book.open_ids and book.state["live"] == 1
        assert book.state["unresolved"] == 1

    eventually(unresolved, 15, "the vanished order is flagged unresolved", interval=0.05,
               context=daemon.tail)
    assert seen[-1][0] < canceled["updateTime"] + lag_ms, "observed only after the lag"
    code, status = daemon.status()
    assert code == 0, status  # still live: the book says what it knows, and what it does not

    book = daemon.wait_converged(sim, timeout=30)
    row = book.orders[victim]
    assert (row["state"], row["source"], row["unresolved"]) == ("canceled", "detail_v2", 0)
    assert book.state["unresolved"] == 0
    events = [e for e in daemon.journal(victim) if e["outcome"] == "applied"]
    # Never assumed canceled: the only terminal state came from the exchange, after the lag.
    terminal = [e for e in events if e["state"] not in OPEN_STATES]
    assert [(e["source"], e["state"]) for e in terminal] == [("detail_v2", "canceled")]
    assert terminal[0]["received_at"] >= canceled["updateTime"] + lag_ms
    assert all(state in OPEN_STATES for _, state, _ in seen)


# Where a venue forgets an unfilled cancel (BitMart's v4 query/order after about 20 min;
# OKX keeps it in its history 2 h, and whether its order detail forgets it is not
# documented): the simulator's option that shortens it, and the journal's source of the
# inference.
FORGETTING = [(BITMART_V4, "--cancel-retention", "inferred_v4"),
              (OKX, "--okx-cancel-retention", "inferred_forgotten")]


@pytest.mark.parametrize(("profile", "retention", "inferred_source"), FORGETTING,
                         ids=[str(profile) for profile, *_ in FORGETTING])
def test_a_forgotten_unfilled_cancel_is_inferred_only_after_forgotten_after(
        lab: Lab, profile: Profile, retention: str, inferred_source: str,
        store: BookUnderTest) -> None:
    """An order canceled unfilled while the tracker heard nothing, which the venue's lookup
    no longer knows, is recorded canceled with the venue's inferred source only after
    `forgotten_after` of "not found"; one with a fill is asked about and answered."""
    # The face forgets unfilled cancels after 1 s here.
    sim = lab.sim("--open-orders", "10", "--seed", "71", retention, "1")
    daemon = lab.daemon(sim, profile=profile, store=store,
                        env={"TRACKER_FORGOTTEN_AFTER": "3"}).start()
    daemon.wait_live()
    opened = sorted(sim.open_truth(), key=lambda o: int(o["orderId"]))
    victim, partial = opened[0]["orderId"], opened[1]
    eventually(lambda: _in(victim, daemon.book().open_ids), 10, "the victim is in the book")
    sim.faults(push_drop=1.0)  # the tracker hears of neither change
    canceled = sim.cancel(victim)
    sim.fill(partial["orderId"], str(half(partial)))
    sim.cancel(partial["orderId"])  # partially_canceled: kept by the venue
    time.sleep(1.5)  # past the retention: the lookup now says "not found" about the victim
    sim.drop("abort")
    sim.faults(push_drop=0.0)

    def unresolved() -> int:
        row = daemon.book().orders[victim]
        assert row["unresolved"] == 1, row
        return int(time.time() * 1000)

    flagged = eventually(unresolved, 15, "the forgotten order is unresolved first",
                         interval=0.05, context=daemon.tail)
    book = daemon.wait_converged(sim, timeout=30)
    row = book.orders[victim]
    assert (row["state"], row["source"]) == ("canceled", inferred_source)
    assert Decimal(row["filled_size"]) == 0
    asked = book.orders[partial["orderId"]]  # asked, answered
    assert (asked["state"], asked["source"]) == ("partially_canceled", profile.detail_source)
    inferred = [e for e in daemon.journal(victim) if e["source"] == inferred_source]
    assert [e["outcome"] for e in inferred] == ["applied"]
    # not before forgotten_after of "not found" answers: the REST lag is never mistaken
    assert inferred[0]["received_at"] >= flagged + 2500
    assert canceled["state"] == "canceled"


def _in(item: str, container: set[str]) -> None:
    assert item in container, f"{item} missing"


# 8 -------------------------------------------------------------------------------------


def journal_keys(daemon: Daemon) -> set[tuple[int, str | None, str]]:
    return {(e["seq"], e["order_id"], e["outcome"]) for e in daemon.journal()}


def assert_journal_whole(book: BookView, events: list[dict[str, Any]]) -> None:
    """The journal has no hole and no repeat (seq 1..n, per account on PostgreSQL), and
    every order row shows a journal row of its own order: rows and journal were committed
    together, never one without the other."""
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    by_seq = {e["seq"]: e for e in events}
    for oid, row in book.orders.items():
        assert by_seq[row["last_seq"]]["order_id"] == oid, (oid, row["last_seq"])


def assert_sound_file(path: Path) -> None:
    """SQLite only: the file itself is sound after a crash (PostgreSQL's own recovery is
    the server's, not the tracker's)."""
    conn = ro_connect(path)
    try:
        assert [tuple(r) for r in conn.execute("PRAGMA integrity_check")] == [("ok",)]
    finally:
        conn.close()


def test_sigkill_then_restart_with_changes_while_down(lab: Lab, store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "40", "--rate", "30", "--seed", "8")
    daemon = lab.daemon(sim, profile=BITMART_V2, store=store).start()
    book = daemon.wait_live()
    eventually(lambda: _at_least(daemon.book().state["applied"], book.state["applied"] + 20),
               20, "the daemon applies pushes")
    committed = journal_keys(daemon)
    daemon.signal(signal.SIGKILL)
    assert daemon.wait() == -signal.SIGKILL
    killed = store.read()
    assert killed.state["live"] == 1  # as it was when killed: readers see a stale heartbeat
    assert committed <= journal_keys(daemon), "a committed journal row was lost"
    events = sim.stats()["flow_events"]
    sim.flow(0)  # so that the orders picked here are still open when changed
    change_during_outage(sim, 3)
    sim.flow(30)
    eventually(lambda: _at_least(sim.stats()["flow_events"], events + 30), 20,
               "orders change while the daemon is down")
    daemon.start()
    daemon.wait_live(epoch_above=killed.state["epoch"])
    sim.flow(0)
    book = daemon.wait_converged(sim)
    assert book.state["pid"] == daemon.pid
    if isinstance(store, SqliteBook):
        assert_sound_file(store.path)
    assert_journal_whole(book, daemon.journal())


# 9 -------------------------------------------------------------------------------------


def test_sigterm_stops_cleanly(lab: Lab, tmp_path: Path, store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "20", "--rate", "20", "--seed", "9")
    if isinstance(store, SqliteBook):
        # A path that a careless `file:` URI would cut short at '#' or '?' (a PostgreSQL
        # book has no path: its URL is built by the harness).
        (tmp_path / "state #1 ?x").mkdir()  # a missing directory is refused, not made
        store = SqliteBook(tmp_path / "state #1 ?x" / "book.db")
    daemon = lab.daemon(sim, profile=BITMART_V4, store=store).start()
    daemon.wait_live()
    code, status = daemon.status()
    assert code == 0 and status["live"] == 1, status
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(15) == 0, daemon.tail()
    if isinstance(store, SqliteBook):
        # The last connection's close checkpointed the WAL into the file and removed it
        # with its index: the stopped book is one file. (Checked before the harness reads
        # it: its plain read-only connection makes them again, `tracker orders` does not.)
        for leftover in (Path(f"{store.path}-wal"), Path(f"{store.path}-shm")):
            assert not leftover.exists(), leftover
    else:
        assert isinstance(store, PostgresBook)
        eventually(lambda: _no_session_left(store), 5, "the daemon's session ended")
    book = store.read()
    assert (book.state["status"], book.state["live"]) == ("stopped", 0)
    assert '"tracker_stopped"' in daemon.log.read_text()
    code, status = daemon.status()
    assert code == 3 and status["running"] is False, status
    listed = run_once(reader_env() | store.reader_env(), "orders", "--format", "json",
                      *store.reader_args())
    assert listed.returncode == 0, listed.stderr
    assert {o["order_id"] for o in json.loads(listed.stdout)} == book.open_ids


def _no_session_left(book: PostgresBook) -> None:
    """The daemon's connections are closed and the account's claim went with them: the
    next tracker takes the account at once, without waiting for the server to notice."""
    others = book.query("SELECT pid, application_name FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert others == [], others
    locks = book.query(LOCKERS, book.account)
    assert locks == [], locks


# 10 ------------------------------------------------------------------------------------


# A reader process: short read transactions, for as long as it is told; a report of what
# it saw, as JSON on its standard output. `snapshot()` (one read transaction of the open
# orders, their count, the journal's last seq and `live`) comes from the backend's part.
READER_HEAD = """
import json, sys, time
seconds = float(sys.argv[1])
"""
READER_SQLITE = """
import sqlite3
from urllib.parse import quote
conn = sqlite3.connect(f"file:{quote(sys.argv[2])}?mode=ro", uri=True, timeout=5,
                       isolation_level=None)
Error = sqlite3.Error

def snapshot():
    conn.execute("BEGIN")
    try:
        ids = [r[0] for r in conn.execute("SELECT * FROM open_orders")]
        count = conn.execute("SELECT COUNT(*) FROM orders "
                             "WHERE state IN ('new', 'partially_filled')").fetchone()[0]
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM order_events").fetchone()[0]
        live = conn.execute("SELECT live FROM sync_state").fetchone()[0]
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    return ids, count, seq, live
"""
# PostgreSQL: a repeatable-read transaction, so that its statements see one commit (read
# committed would give each statement its own); the password comes from PGPASSWORD.
READER_POSTGRES = """
import psycopg
conn = psycopg.connect(sys.argv[2], autocommit=True, connect_timeout=5)
account = sys.argv[3]
Error = psycopg.Error

def snapshot():
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        ids = [r[0] for r in conn.execute("SELECT order_id, * FROM open_orders "
                                          "WHERE account = %s", (account,))]
        count = conn.execute("SELECT COUNT(*) FROM orders WHERE account = %s "
                             "AND state IN ('new', 'partially_filled')",
                             (account,)).fetchone()[0]
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM order_events "
                           "WHERE account = %s", (account,)).fetchone()[0]
        live = conn.execute("SELECT live FROM sync_state WHERE account = %s",
                            (account,)).fetchone()[0]
    return ids, count, seq, live
"""
READER_LOOP = """
report = {"reads": 0, "errors": [], "empty": 0, "inconsistent": 0, "not_live": 0,
          "seqs": []}
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        ids, count, seq, live = snapshot()
    except Error as exc:
        report["errors"].append(str(exc))
        continue
    report["reads"] += 1
    report["empty"] += not ids
    report["inconsistent"] += len(ids) != count or len(set(ids)) != count
    report["not_live"] += live != 1
    if not report["seqs"] or report["seqs"][-1] != seq:
        report["seqs"].append(seq)
    time.sleep(0.002)
report["seqs"] = [report["seqs"][0], report["seqs"][-1], len(report["seqs"])]
print(json.dumps(report))
"""


def start_reader(store: BookUnderTest, seconds: float, script: str) -> subprocess.Popen[str]:
    """A reader process for either backend: `READER_HEAD`, the backend's part, then
    `script`. A PostgreSQL reader gets its password as libpq's PGPASSWORD, not in argv."""
    env = reader_env()
    if isinstance(store, SqliteBook):
        part, args = READER_SQLITE, [str(store.path)]
    else:
        assert isinstance(store, PostgresBook)
        part, args = READER_POSTGRES, [store.database.url(password=False), store.account]
        env["PGPASSWORD"] = store.database.password
    return subprocess.Popen([sys.executable, "-c", READER_HEAD + part + script, str(seconds),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def test_readers_read_while_the_daemon_writes(lab: Lab, store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "100", "--rate", "200", "--seed", "10")
    daemon = lab.daemon(sim, profile=BITMART_V4, store=store).start()
    daemon.wait_live()
    reader = start_reader(store, 3.0, READER_LOOP)
    try:
        out, err = reader.communicate(timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait(5)
    assert reader.returncode == 0, err
    report = json.loads(out)
    assert report["errors"] == [], report
    assert report["reads"] >= 100 and report["empty"] == 0, report
    assert report["inconsistent"] == 0 and report["not_live"] == 0, report
    first, last, distinct = report["seqs"]
    assert last - first >= 200 and distinct >= 20, report  # the daemon wrote meanwhile
    sim.flow(0)
    daemon.wait_converged(sim)


# 11 ------------------------------------------------------------------------------------


def book_untouched(store: BookUnderTest) -> None:
    """Nothing was made where the book would be: no file, or no table in the database."""
    if isinstance(store, SqliteBook):
        assert not store.path.exists() and not store.path.parent.joinpath(
            f"{store.path.name}-wal").exists()
    else:
        assert isinstance(store, PostgresBook)
        made = store.query("SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                           "ON n.oid = c.relnamespace WHERE n.nspname = 'public'")
        assert made == [], made


def test_bad_configuration_is_one_line_and_exit_78(tmp_path: Path, store: BookUnderTest) -> None:
    base = clean_env() | CREDENTIALS | store.env() | {
        "TRACKER_SYMBOLS": "BTC_USDT",
        "TRACKER_REST_URL": "http://127.0.0.1:9", "TRACKER_WS_URL": "ws://127.0.0.1:9/user"}
    cases = {
        "api_key": {k: v for k, v in base.items() if k not in CREDENTIALS},
        "api": base | {"TRACKER_API": "v3"},
        "symbols": base | {"TRACKER_SYMBOLS": "BTC_USDT,BTCUSDT"},
        "rest_url": base | {"TRACKER_REST_URL": "http://203.0.113.7:8080"},
        "ws_url": base | {"TRACKER_WS_URL": "ws://exchange.example/user?protocol=1.1"},
        "silence_timeout": base | {"TRACKER_PING_INTERVAL": "10",
                                   "TRACKER_SILENCE_TIMEOUT": "5"},
    }
    procs = {name: subprocess.Popen([*TRACKER, "run"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=env)
             for name, env in cases.items()}
    results = {}
    try:
        for name, proc in procs.items():
            results[name] = (*proc.communicate(timeout=30), proc.returncode)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    secrets = [CREDENTIALS["TRACKER_API_SECRET"]]
    if isinstance(store, PostgresBook):
        secrets.append(store.database.password)
    for name, (out, err, code) in results.items():
        lines = err.strip().splitlines()
        assert code == 78, (name, code, err)
        assert len(lines) == 1, (name, err)
        assert "configuration error" in lines[0] and lines[0].split(": ")[2].startswith(
            name), (name, lines[0])
        assert not any(secret in err + out for secret in secrets), name
    book_untouched(store)


def test_wrong_credentials_do_not_spin(lab: Lab, store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "5", "--seed", "11")
    daemon = lab.daemon(sim, profile=BITMART_V2, store=store,
                        env={"TRACKER_API_SECRET": "0" * 32}).start()
    eventually(lambda: _at_least(sim.counter("ws_login_failed"), 1), 20,
               "the daemon tries to log in", context=daemon.tail)
    eventually(lambda: _not_live(daemon), 10, "the book reports that it is not live")
    start = sim.stats()["counters"]
    window = 5.0
    until = time.monotonic() + window
    while time.monotonic() < until:  # observe the window: up, and never live
        _not_live(daemon)
        time.sleep(0.25)
    end = sim.stats()["counters"]
    grown = {k: end.get(k, 0) - start.get(k, 0)
             for k in ("ws_login_failed", "v2_tokens_issued", "rest_requests",
                       "ws_connections")}
    assert grown["ws_login_failed"] < 10 and grown["ws_connections"] < 10, grown
    assert grown["rest_requests"] < 10 and end.get("v2_tokens_issued", 0) == 0, grown
    code, status = daemon.status()
    assert code == 1 and status["running"] is True and status["live"] == 0, status
    # Waiting out the long back-off after a refused login does not delay a stop.
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert store.read().state["status"] == "stopped"
    log = daemon.log.read_text()
    assert "0" * 32 not in log and CREDENTIALS["TRACKER_API_SECRET"] not in log
    if isinstance(store, PostgresBook):
        assert store.database.password not in log
    assert "91011" in log and "check api_secret and api_memo" in log, "the likely cause"


def _not_live(daemon: Daemon) -> None:
    assert daemon.alive(), f"the daemon exited: {daemon.tail()}"
    state = daemon.book().state
    assert state["live"] == 0 and state["heartbeat_at"], state
