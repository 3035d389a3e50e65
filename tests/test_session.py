"""The session with no sockets, threads or subprocesses: events in, batches and effects out.

Each row of the transition table, then the cases that decide whether the book is exact: a
push during the seed for an order the seed also returns, a vanished order unknown and later
found, a disconnect or a stop in the middle of a seed, a reconcile while live, and a push of
a symbol that is not tracked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from tracker import codec
from tracker.batch import Batch, Loaded
from tracker.book import Outcome
from tracker.codec import OrderUpdate
from tracker.config import Config
from tracker.events import (
    Bad,
    Decoded,
    Detail,
    Down,
    Event,
    Overflow,
    Push,
    SeedBegin,
    Seeded,
    SeedFailed,
    SeedProgress,
    Stop,
    Tick,
    Up,
)
from tracker.session import (
    TRANSITIONS,
    AskDetail,
    CancelSeed,
    Effect,
    Note,
    Phase,
    Session,
    StartSeed,
    decoded,
    decoder,
)
from tracker.venues.bitmart.codec import from_v2
from tracker.venues.bitmart.venue import Dialect, Settings

SYMBOL = "BTC_USDT"
T0 = 1_764_000_000_000  # wall-clock ms at the start of every scenario


@dataclass
class Seqs:
    next_seq: int = 1

    def take_seq(self) -> int:
        self.next_seq += 1
        return self.next_seq - 1


@dataclass
class Driver:
    """Feeds one session as the asyncio driver would, with a clock the test moves."""

    session: Session
    now: float = 100.0
    batches: list[Batch] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    def feed(self, *events: Event) -> Batch:
        batch = Batch()
        for event in events:
            self.effects += self.session.handle(event, batch, self.now,
                                                T0 + int(self.now * 1000))
        self.batches.append(batch)
        return batch

    def later(self, seconds: float) -> Driver:
        self.now += seconds
        return self

    @property
    def token(self) -> int:
        return self.session.seed_token

    def seed(self, *updates: OrderUpdate, uncertain: set[str] | None = None) -> Batch:
        """The seed asked for last answers with these orders."""
        return self.feed(Seeded(self.token, [Decoded(list(updates), [], uncertain or set())],
                                "seed_v4"))

    def journal(self) -> list[tuple[Any, ...]]:
        return [e for b in self.batches for e in b.events]

    def notes(self) -> list[str]:
        return [e.event for e in self.effects if isinstance(e, Note)]


def order(oid: str, state: str = "new", filled: str = "0", update_time: int = 1,
          source: str = "seed_v4", symbol: str = SYMBOL) -> OrderUpdate:
    return OrderUpdate(order_id=oid, symbol=symbol, side="buy", state=state,
                       price=Decimal("100"), size=Decimal("2"), filled_size=Decimal(filled),
                       source=source, type="limit", create_time=T0,
                       update_time=T0 + update_time)


def push(oid: str, state: str = "new", filled: str = "0", update_time: int = 2,
         symbol: str = SYMBOL) -> Push:
    element = {"symbol": symbol, "side": "buy", "type": "limit", "notional": "",
               "size": "2", "price": "100", "filled_notional": "0", "filled_size": filled,
               "margin_trading": "0", "state": "4", "order_state": state, "order_id": oid,
               "order_type": "0", "client_order_id": "", "create_time": str(T0),
               "update_time": str(T0 + update_time), "ms_t": str(T0 + update_time),
               "order_mode": "spot",
               "entrust_type": "normal", "last_fill_time": "0", "last_fill_price": "0",
               "last_fill_count": "0", "exec_type": "M", "detail_id": "", "dealFee": "0",
               "deal_fee_coin_name": ""}
    return Push(1, [element], T0 + update_time)


def session(api: str = "v4", **settings: Any) -> Driver:
    config = Config(venue_settings=Settings(api=api), symbols=(SYMBOL,), grace_period=3.0,
                    forgotten_after=300.0, reconcile_interval=900.0, backoff_initial=0.5,
                    backoff_max=30.0,
                    **settings)
    return Driver(Session(config, Seqs()))


def live(driver: Driver, *updates: OrderUpdate) -> Driver:
    """Connected, seeded with `updates`, live."""
    driver.feed(Up(1))
    driver.feed(SeedBegin(driver.token))
    driver.seed(*updates)
    assert driver.session.phase is Phase.LIVE
    return driver


def in_phase(phase: Phase) -> Driver:
    driver = session()
    if phase is Phase.STARTING:
        return driver
    if phase is Phase.STOPPED:
        driver.feed(Stop())
        return driver
    if phase is Phase.DOWN:
        driver.feed(Down(1, "closed"))
        return driver
    driver.feed(Up(1))
    if phase is Phase.WAITING:
        return driver
    driver.feed(SeedBegin(driver.token))
    if phase is Phase.SEEDING:
        return driver
    driver.seed(order("1"))
    if phase is Phase.RECONCILING:
        driver.later(901).feed(Tick())
    assert driver.session.phase is phase
    return driver


# -- the transition table, row by row ---------------------------------------------------

def sample(event: type, driver: Driver) -> Event:
    token = driver.token
    samples: dict[type, Event] = {
        Up: Up(2), Down: Down(1, "closed"), Push: push("9"), Bad: Bad(1, "not JSON", "x"),
        SeedBegin: SeedBegin(token), SeedProgress: SeedProgress(token, "seeding"),
        Seeded: Seeded(token, [Decoded([order("1")])], "seed_v4"),
        SeedFailed: SeedFailed(token, "HTTP 500"), Detail: Detail("1", None, "timeout"),
        Tick: Tick(), Stop: Stop(), Overflow: Overflow(7)}
    return samples[event]


# The phase each row leads to (a Tick in LIVE leads to RECONCILING only once a reconcile
# is due; this sample is not).
EXPECTED = {
    Up: lambda p: Phase.RECONCILING if p in (Phase.LIVE, Phase.RECONCILING) else Phase.WAITING,
    Down: lambda p: Phase.DOWN,
    Push: lambda p: p, Bad: lambda p: p, SeedProgress: lambda p: p, Detail: lambda p: p,
    Tick: lambda p: p,
    SeedBegin: lambda p: Phase.RECONCILING if p is Phase.RECONCILING else Phase.SEEDING,
    Seeded: lambda p: Phase.LIVE,
    SeedFailed: lambda p: Phase.RECONCILING if p is Phase.RECONCILING else Phase.WAITING,
    Stop: lambda p: Phase.STOPPED,
    Overflow: lambda p: p if p in (Phase.STARTING, Phase.DOWN) else Phase.WAITING,
}


@pytest.mark.parametrize(("phase", "event"), sorted(TRANSITIONS, key=str),
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_each_row_of_the_table(phase: Phase, event: type) -> None:
    driver = in_phase(phase)
    driver.feed(sample(event, driver))
    assert driver.session.phase is EXPECTED[event](phase)
    assert driver.session.live == (driver.session.phase in (Phase.LIVE, Phase.RECONCILING))


def test_pairs_outside_the_table_change_nothing() -> None:
    driver = in_phase(Phase.STOPPED)
    before = driver.session.book.rows.copy()
    batch = driver.feed(push("5"), Up(3), SeedBegin(driver.token), Tick())
    assert driver.session.phase is Phase.STOPPED and not batch
    assert driver.session.book.rows == before


def test_every_phase_handles_a_disconnect_and_a_stop() -> None:
    for phase in Phase:
        if phase is not Phase.STOPPED:
            assert (phase, Down) in TRANSITIONS and (phase, Stop) in TRANSITIONS


def test_a_stale_seed_token_is_ignored() -> None:
    driver = in_phase(Phase.SEEDING)
    old = driver.token
    driver.feed(Down(1, "closed"), Up(2))
    driver.feed(Seeded(old, [Decoded([order("1")])], "seed_v4"))
    assert driver.session.phase is Phase.WAITING and "1" not in driver.session.book.rows


# -- the splice --------------------------------------------------------------------------

def test_a_push_during_the_seed_is_held_and_applied_after_the_snapshot() -> None:
    driver = session()
    driver.feed(Up(1))
    assert driver.effects[-1] == StartSeed(driver.token, 0.0)
    driver.feed(SeedBegin(driver.token))
    held = driver.feed(push("1", "partially_filled", "1", update_time=5))
    assert not held.events and "1" not in driver.session.book.rows  # held, not applied
    batch = driver.seed(order("1", update_time=3))  # read before the fill
    row = driver.session.book.rows["1"]
    assert row.state == "partially_filled" and row.filled_size == Decimal(1)
    # Snapshot first, then the held push, in one batch: seed row applied, push applied.
    assert [(e[3], e[8]) for e in batch.events] == [("seed_v4", "applied"), ("push", "applied")]
    assert batch.state["live"] == 1 and batch.state["epoch"] == 1
    assert batch.state["status"] == "live, 1 open orders"
    assert batch.state["live_since"] == T0 + int(driver.now * 1000)


def test_a_push_older_than_the_snapshot_is_stale() -> None:
    driver = session()
    driver.feed(Up(1))
    driver.feed(SeedBegin(driver.token))
    driver.feed(push("1", "new", "0", update_time=2))
    batch = driver.seed(order("1", "partially_filled", "1", update_time=4))
    assert [e[8] for e in batch.events] == ["applied", "stale"]
    assert driver.session.book.rows["1"].state == "partially_filled"


def test_a_disconnect_during_the_seed_applies_what_was_held_and_cancels_the_seed() -> None:
    driver = in_phase(Phase.SEEDING)
    driver.feed(push("7", "new", update_time=2))
    batch = driver.feed(Down(1, "ConnectionClosedError: 1006", "disconnected"))
    assert driver.session.phase is Phase.DOWN
    assert CancelSeed() in driver.effects
    assert "7" in driver.session.book.rows  # a held push is a fact: applied, not dropped
    assert batch.state["live"] == 0 and batch.state["not_live_reason"] == "disconnected"
    assert batch.state["status"].startswith("disconnected: ConnectionClosedError")
    assert batch.state["reconnects"] == 1
    # The next connection splices from the start.
    driver.feed(Up(2))
    assert driver.session.phase is Phase.WAITING and driver.effects[-1] == StartSeed(
        driver.token, 0.0)


def test_a_stop_during_the_seed() -> None:
    driver = in_phase(Phase.SEEDING)
    token = driver.token
    driver.feed(push("7"))
    batch = driver.feed(Stop())
    assert driver.session.phase is Phase.STOPPED and CancelSeed() in driver.effects
    assert "7" in driver.session.book.rows
    assert batch.state["status"] == "stopped" and batch.state["not_live_reason"] == "stopped"
    late = driver.feed(Seeded(token, [Decoded([order("8")])], "seed_v4"))
    assert not late and "8" not in driver.session.book.rows


def test_a_failed_seed_retries_with_back_off_and_keeps_its_reason_in_view() -> None:
    driver = in_phase(Phase.SEEDING)
    driver.feed(SeedFailed(driver.token, "HTTP 429 Too Many Requests", "rate_limited"))
    assert driver.session.phase is Phase.WAITING
    assert driver.effects[-1] == StartSeed(driver.token, 1.0)
    driver.feed(SeedBegin(driver.token))
    batch = driver.feed(SeedFailed(driver.token, "HTTP 429 again", "rate_limited"))
    assert driver.effects[-1] == StartSeed(driver.token, 2.0)
    assert batch.state["not_live_reason"] == "rate_limited"
    assert batch.state["status"].endswith("the last seed failed: HTTP 429 again")


def test_a_reconcile_while_live_keeps_the_book_live() -> None:
    driver = live(session(), order("1"), order("2"))
    driver.later(899).feed(Tick())
    assert driver.session.phase is Phase.LIVE
    driver.later(2).feed(Tick())
    assert driver.session.phase is Phase.RECONCILING and isinstance(driver.effects[-1],
                                                                     StartSeed)
    driver.feed(SeedBegin(driver.token))
    # Pushes during a reconcile apply at once: the book stays live and current.
    applied = driver.feed(push("3", update_time=9))
    assert "3" in driver.session.book.rows and applied.state["last_event_at"] == T0 + 9
    # The snapshot was read before order 3 existed and after order 2 was canceled.
    batch = driver.seed(order("1"))
    assert driver.session.phase is Phase.LIVE and batch.state["epoch"] == 2
    assert "live_since" not in batch.state  # it never stopped being live
    assert set(driver.session.pending) == {"2"}  # 3 was touched after the seed began


# -- vanished orders --------------------------------------------------------------------

def test_a_vanished_order_unknown_then_found() -> None:
    driver = live(session("v2"), order("1"), order("2"))
    driver.later(900).feed(Tick())  # a reconcile: order 2 is gone from the snapshot
    driver.feed(SeedBegin(driver.token))
    driver.seed(order("1"))
    assert set(driver.session.pending) == {"2"}
    driver.later(1).feed(Tick())
    assert AskDetail("2") not in driver.effects  # within the grace period
    driver.later(3).feed(Tick())
    assert driver.effects[-1] == AskDetail("2")
    unknown = driver.feed(Detail("2", None, None))
    assert driver.session.unresolved == {"2"} and unknown.orders["2"][2] is True
    assert unknown.state["unresolved"] == 1 and "order_unresolved" in driver.notes()
    asked = len([e for e in driver.effects if e == AskDetail("2")])
    driver.later(5).feed(Tick())  # retried after 2 x grace
    assert len([e for e in driver.effects if e == AskDetail("2")]) == asked
    driver.later(2).feed(Tick())
    assert len([e for e in driver.effects if e == AskDetail("2")]) == asked + 1
    row = {"entrust_id": 2, "symbol": SYMBOL, "timestamp": T0, "side": "buy", "price": "100",
           "original_amount": "2", "executed_amount": "2", "remaining_amount": "0",
           "status": 3}
    found = driver.feed(Detail("2", row, None))
    assert driver.session.unresolved == set() and driver.session.pending == {}
    assert driver.session.book.rows["2"].state == "filled"
    assert found.orders["2"][2] is False and found.state["unresolved"] == 0
    assert [e[3] for e in found.events] == ["detail_v2"] and driver.session.resolved == 1


def test_an_answer_about_another_order_is_journaled_invalid() -> None:
    driver = live(session("v2"), order("1"), order("2"))
    driver.later(900).feed(Tick())
    driver.feed(SeedBegin(driver.token))
    driver.seed(order("1"))
    driver.later(4).feed(Tick())
    row = {"entrust_id": 3, "symbol": SYMBOL, "timestamp": T0, "side": "buy", "price": "1",
           "original_amount": "1", "executed_amount": "0", "remaining_amount": "1",
           "status": 1}
    batch = driver.feed(Detail("2", row, None))
    assert [(e[8], e[9]) for e in batch.events] == [("invalid",
                                                     "detail answer for another order")]
    assert "3" not in driver.session.book.rows and "2" in driver.session.pending


def test_v4_forgets_an_unfilled_canceled_order_and_it_is_inferred_canceled() -> None:
    driver = live(session("v4"), order("1"), order("2"))
    driver.later(900).feed(Tick())
    driver.feed(SeedBegin(driver.token))
    driver.seed(order("1"))
    driver.later(4).feed(Tick())
    driver.feed(Detail("2", None, None))  # the first "not found"
    assert driver.session.unresolved == {"2"}
    driver.later(301)
    for _ in range(8):  # asked again and again, "not found" each time
        driver.later(60).feed(Tick())
        if driver.effects and driver.effects[-1] == AskDetail("2"):
            driver.feed(Detail("2", None, None))
    assert driver.session.book.rows["2"].state == "canceled"
    assert driver.session.book.rows["2"].source == "inferred_v4"
    assert "order_inferred_canceled" in driver.notes() and not driver.session.unresolved


def test_a_failed_question_is_not_an_unknown_order() -> None:
    driver = live(session("v4"), order("1"), order("2"))
    driver.later(900).feed(Tick())
    driver.feed(SeedBegin(driver.token))
    driver.seed(order("1"))
    driver.later(4).feed(Tick())
    driver.feed(Detail("2", None, "HTTP 503"))
    assert driver.session.unresolved == set() and "2" in driver.session.pending


def test_restored_unresolved_orders_are_asked_about_once_live() -> None:
    driver = session()
    loaded = Loaded([order("4")], {"4"}, {"4": 12}, {"epoch": 3, "splices": 3})
    driver.session.restore(loaded, driver.now)
    driver.later(5).feed(Tick())
    assert AskDetail("4") not in driver.effects  # not live yet: nothing is asked
    live(driver, order("4"))  # the seed lists it, as it was: not news, still unresolved
    assert driver.session.unresolved == {"4"}
    driver.later(3).feed(Tick())
    assert driver.effects[-1] == AskDetail("4")


# -- pushes ------------------------------------------------------------------------------

def test_a_bad_push_element_is_journaled_invalid_with_the_push_receive_time() -> None:
    driver = live(session())
    bad = push("5")
    bad.data[0]["filled_size"] = "lots"
    batch = driver.feed(bad)
    (event,) = batch.events
    assert event[8] == Outcome.INVALID.value and event[4] == "5" and event[1] == bad.received_ms


def test_credentials_in_exchange_text_are_scrubbed_before_the_journal() -> None:
    config = Config(venue_settings=Settings(api="v4"), symbols=(SYMBOL,))
    driver = Driver(Session(config, Seqs(), secrets=("s3cretkey",)))
    live(driver)
    batch = driver.feed(Bad(1, "echo s3cretkey", '{"k": "s3cretkey"}'))
    (event,) = batch.events
    assert "s3cretkey" not in event[9] and "s3cretkey" not in event[10]


def test_seqs_are_taken_in_order_from_the_store() -> None:
    driver = session()
    driver.session.seqs = Seqs(next_seq=41)
    live(driver, order("1"), order("2"))
    driver.feed(push("1", "filled", "2", update_time=9))
    assert [e[0] for e in driver.journal()] == [41, 42, 43]
    assert driver.session.last_seq == {"1": 43, "2": 42}


# -- overflow ----------------------------------------------------------------------------

def test_an_overflow_makes_the_book_not_live_and_splices_again() -> None:
    driver = live(session(), order("1"))
    batch = driver.feed(Overflow(120))
    assert driver.session.phase is Phase.WAITING and isinstance(driver.effects[-1], StartSeed)
    assert batch.state["live"] == 0 and batch.state["not_live_reason"] == "queue_overflow"
    assert batch.state["status"].startswith("events dropped: 120 events dropped")


def test_an_overflow_while_disconnected_waits_for_the_connection() -> None:
    driver = in_phase(Phase.DOWN)
    driver.effects.clear()
    driver.feed(Overflow(3))
    assert driver.session.phase is Phase.DOWN
    assert not any(isinstance(e, StartSeed) for e in driver.effects)
    assert "queue_overflow" in driver.notes()


# -- timers ------------------------------------------------------------------------------

def test_a_tick_rewrites_the_status_once_a_second() -> None:
    driver = live(session(), order("1"))
    assert not driver.later(0.5).feed(Tick())
    batch = driver.later(0.6).feed(Tick())
    assert batch.state == {"status": "live, 1 open orders"}


def test_a_seed_keeps_decoded_rows_and_refusals_and_asks_only_about_real_ids() -> None:
    decode = decoder(Dialect("v2").seed_row, {}.get)
    good = {"entrust_id": 7, "symbol": SYMBOL, "timestamp": T0, "side": "buy",
            "price": "100", "original_amount": "2", "executed_amount": "0", "status": 1}
    kept = [decode(good), decode({"entrust_id": 8}), decode("not an object")]
    seed = decoded(kept, ["9", "'not an object'", "None"], Dialect("v4"))
    assert [u.order_id for u in seed.updates] == ["7"]
    assert len(seed.invalid) == 2 and all(isinstance(r, str) for pair in seed.invalid
                                          for r in pair)
    assert seed.uncertain == {"9"}


def test_a_seed_row_the_book_holds_already_is_made_of_the_held_rows_objects() -> None:
    raw = {"entrust_id": 7, "symbol": SYMBOL, "timestamp": T0, "side": "buy",
           "price": "100.50", "original_amount": "2", "executed_amount": "0", "status": 1}
    # As a push said it: with the type, client id and update time a v2 row lacks.
    held = msgspec.structs.replace(from_v2(dict(raw), "seed_v2"), source="push", type="limit",
                                   client_order_id="c1", update_time=T0 + 5)
    reused = decoder(Dialect("v2").seed_row, {"7": held}.get)(dict(raw))
    assert isinstance(reused, OrderUpdate)
    assert reused == from_v2(dict(raw), "seed_v2")  # the seed's source, and no type
    assert reused.order_id is held.order_id and reused.price is held.price
    assert reused.symbol is held.symbol and reused.create_time is held.create_time
    # An amount spelled otherwise, or another fill, is the seed's own; the rest is shared.
    respelled = decoder(Dialect("v2").seed_row, {"7": held}.get)(raw | {"price": "100.5"})
    assert isinstance(respelled, OrderUpdate) and respelled.price is not held.price
    assert codec.amount_text(respelled.price) == "100.5" and respelled.size is held.size
    filled = decoder(Dialect("v2").seed_row, {"7": held}.get)(
        raw | {"executed_amount": "1", "status": 2})
    assert filled == from_v2(raw | {"executed_amount": "1", "status": 2}, "seed_v2")
    assert isinstance(filled, OrderUpdate) and filled.price is held.price
    assert filled.filled_size is not held.filled_size
