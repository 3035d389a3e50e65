"""tracker/sync.py in process: the bounded event queue, and what the seed and the
order-detail resolver post to it, with a REST object written here and a real SQLite book.

The stream is never run (no `Tracker.run`): these are the driver's own rules, which the
end-to-end tests only see through a book that stays exact. A bounded queue that lost a
disconnect, or a seed that died without a word, would leave a splice waiting for ever.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tracker.codec import OrderUpdate
from tracker.config import Config, load
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
from tracker.events import Markets as Markets_
from tracker.exchange.errors import (
    AuthError,
    ClockSkew,
    ExchangeError,
    NotFound,
    RateLimited,
    Unreachable,
)
from tracker.reasons import NotLive
from tracker.session import AskDetail
from tracker.sqlite.store import Store
from tracker.sync import EventQueue, Tracker
from tracker.venue import Keep, Progress, Rest, Seed
from tracker.venues.bitmart.cursors import Row

SYMBOLS = ("BTC_USDT", "ETH_USDT")
ENV = {"TRACKER_API_KEY": "6591f7c2491db0a23a1d8ad6911c825e",
       "TRACKER_API_SECRET": "8c08d9d5c3d15b105dbddaf96e427ac6",
       "TRACKER_API_MEMO": "mymemo", "TRACKER_SYMBOLS": ",".join(SYMBOLS)}
SKEW_MS = 1_234  # what the fake exchange's clock measures as
Markets = dict[str, tuple[str, str]]


def v2_row(order_id: int, symbol: str, status: int = 1) -> Row:
    """An open order as `GET /v2/orders` lists it (protocol notes §1.5's shape)."""
    return {"entrust_id": order_id, "symbol": symbol, "timestamp": 1_528_060_666_000,
            "side": "buy", "price": "1.000000", "fees": "0", "original_amount": "1",
            "executed_amount": "0", "remaining_amount": "1", "status": status}


# -- the queue -----------------------------------------------------------------------

def push(n: int) -> Push:
    return Push(1, [{"n": n}], n)


def drain(queue: EventQueue) -> list[Event]:
    """Everything queued, through `take` as the consumer does: only taking gives an
    Overflow its count and lets the next one be queued."""
    taken: list[Event] = []
    while not queue.empty():
        taken.append(queue.take())
    return taken


def test_up_to_the_limit_every_event_is_kept() -> None:
    queue = EventQueue(3)
    for item in (push(1), Tick(), Bad(1, "not json", "{")):
        queue.put_nowait(item)
    assert drain(queue) == [push(1), Tick(), Bad(1, "not json", "{")]
    assert queue.dropped == 0


def test_past_the_limit_every_sheddable_event_goes_and_an_overflow_comes_first() -> None:
    queue = EventQueue(5)
    for item in (push(1), Up(1), Tick(), SeedBegin(7), SeedProgress(7, "seeding")):
        queue.put_nowait(item)
    queue.put_nowait(Bad(1, "not json", "{"))  # the sixth: itself shed, with the rest
    assert drain(queue) == [Overflow(4), Up(1), SeedBegin(7)]
    assert queue.dropped == 4


def test_the_events_that_decide_the_state_are_never_shed_and_keep_their_order() -> None:
    queue = EventQueue(2)
    queue.put_nowait(push(1))
    queue.put_nowait(push(2))
    decisive: list[Event] = [
        Down(1, "closed"), Up(2), SeedBegin(3), Seeded(3, [], "seed_v2"),
        SeedFailed(4, "refused", NotLive.CREDENTIALS), Detail("42", None, None), Stop()]
    for item in decisive:  # past the limit, but none of them may be dropped
        queue.put_nowait(item)
    assert queue.qsize() == 2 + len(decisive) and queue.dropped == 0
    queue.put_nowait(Tick())  # sheds the two pushes and itself
    assert drain(queue) == [Overflow(3), *decisive]


async def test_one_overflow_at_a_time_with_the_count_when_taken_and_again_once_taken() -> None:
    queue = EventQueue(2)
    for n in range(3):
        queue.put_nowait(push(n))  # the third sheds all three
    queue.put_nowait(push(3))  # beside the Overflow: under the limit again
    queue.put_nowait(push(4))  # sheds pushes 3 and 4; the Overflow queued is enough
    assert queue.qsize() == 1
    assert await queue.next() == Overflow(5)  # all dropped so far, not 3 as when queued
    for n in range(5, 8):
        queue.put_nowait(push(n))  # taken, so a new one is queued
    assert drain(queue) == [Overflow(8)]


# -- the seed and the resolver -------------------------------------------------------

class FakeRest:
    """The `Rest` protocol over written answers: rows per symbol, a failure per symbol,
    a delay, order-detail answers (a row or an exception) by id."""

    def __init__(self, rows: dict[str | None, list[Row]] | None = None, *,
                 uncertain: dict[str | None, list[str]] | None = None,
                 fail: dict[str | None, Exception] | None = None, delay: float = 0.0,
                 details: dict[str, Row | Exception] | None = None,
                 markets: list[Markets | Exception] | None = None) -> None:
        self.stats: Counter[str] = Counter()
        self.skew_ms = 0
        self.rows = rows or {}
        self.uncertain = uncertain or {}
        self.fail = fail or {}
        self.delay = delay
        self.details = details or {}
        self.seeded: list[str | None] = []
        self.asked: list[tuple[str, str | None]] = []  # order_detail's arguments, in turn
        self.markets_answers = list(markets or [])  # one per reading, in turn
        self.markets_asked: list[list[str] | None] = []

    async def sync_clock(self) -> None:
        self.skew_ms = SKEW_MS

    async def seed(self, symbol: str | None, progress: Progress | None = None,
                   keep: Keep | None = None) -> Seed:
        self.seeded.append(symbol)
        await asyncio.sleep(self.delay)
        if symbol in self.fail:
            raise self.fail[symbol]
        kept = [keep(row) if keep else row for row in self.rows.get(symbol, [])]
        if progress is not None:
            progress(symbol or "all symbols", len(kept), len(kept))
        return Seed(kept, list(self.uncertain.get(symbol, [])), passes=2)

    async def order_detail(self, order_id: str, symbol: str | None) -> Row:
        self.asked.append((order_id, symbol))
        answer = self.details[order_id]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def markets(self, symbols: list[str] | None) -> Markets:
        self.markets_asked.append(symbols)
        answer = self.markets_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aclose(self) -> None:
        pass


def config(**changes: Any) -> Config:
    return dataclasses.replace(load(None, ENV, {}), **changes)


@asynccontextmanager
async def tracking(tmp_path: Path, rest: Rest, **changes: Any) -> AsyncIterator[Tracker]:
    """A tracker on a fresh SQLite book, loaded as the daemon loads it, its stream idle."""
    store = await Store.open(tmp_path / "orders.db")
    try:
        tracker = Tracker(config(db=tmp_path / "orders.db", **changes), store, rest)
        await tracker.load()
        yield tracker
    finally:
        await store.close()


async def seed(tracker: Tracker, token: int) -> list[Event]:
    """What one seed posted, in order."""
    await asyncio.wait_for(tracker._seed(token, 0), timeout=10)
    return drain(tracker.queue)


def ids(decoded: Decoded) -> list[str]:
    return [update.order_id for update in decoded.updates]


async def test_a_seed_posts_its_begin_then_every_symbols_rows_decoded(tmp_path: Path) -> None:
    rest = FakeRest(rows={"BTC_USDT": [v2_row(11, "BTC_USDT"), v2_row(12, "BTC_USDT")],
                          "ETH_USDT": [v2_row(21, "ETH_USDT"), {"entrust_id": 22}]},
                    uncertain={"ETH_USDT": ["23", "not an id"]})
    async with tracking(tmp_path, rest) as tracker:
        posted = await seed(tracker, 7)
        assert rest.seeded == list(SYMBOLS)
        assert tracker.stream.skew_ms == SKEW_MS  # the clock measured before the first page
    assert posted[0] == SeedBegin(7)
    assert all(isinstance(event, SeedProgress) and event.token == 7 for event in posted[1:-1])
    done = posted[-1]
    assert isinstance(done, Seeded) and done.token == 7 and done.source == "seed_v2"
    btc, eth = done.seeds
    assert ids(btc) == ["11", "12"] and ids(eth) == ["21"]
    assert all(isinstance(u, OrderUpdate) and u.source == "seed_v2" and u.state == "new"
               for u in btc.updates + eth.updates)
    assert [u.symbol for u in btc.updates] == ["BTC_USDT", "BTC_USDT"]
    assert btc.invalid == [] and len(eth.invalid) == 1  # refused, with its reason and excerpt
    assert eth.uncertain == {"23"}  # an id, to ask about; what is not an id is dropped


@pytest.mark.parametrize(("error", "cause"), [
    (ExchangeError("answer without data"), NotLive.EXCHANGE),
    (RateLimited("30013 too many requests"), NotLive.RATE_LIMITED),
    (ClockSkew("timestamp out of window"), NotLive.CLOCK),
    (AuthError("the signature is wrong"), NotLive.CREDENTIALS),
])
async def test_an_exchange_error_fails_the_seed_with_its_cause(
        tmp_path: Path, error: ExchangeError, cause: str) -> None:
    rest = FakeRest(rows={"BTC_USDT": [v2_row(11, "BTC_USDT")]}, fail={"ETH_USDT": error})
    async with tracking(tmp_path, rest) as tracker:
        posted = await seed(tracker, 3)
    assert posted[0] == SeedBegin(3)
    assert posted[-1] == SeedFailed(3, str(error), cause)
    assert not any(isinstance(event, Seeded) for event in posted)  # no half of a seed


async def test_any_other_exception_fails_the_seed_naming_its_type(tmp_path: Path) -> None:
    rest = FakeRest(fail={"BTC_USDT": KeyError("entrust_id")})
    async with tracking(tmp_path, rest) as tracker:
        posted = await seed(tracker, 5)
    assert posted == [SeedBegin(5), SeedFailed(5, "KeyError: 'entrust_id'", NotLive.EXCHANGE)]


async def test_a_seed_slower_than_seed_timeout_is_abandoned_and_counted(tmp_path: Path) -> None:
    rest = FakeRest(rows={"BTC_USDT": [v2_row(11, "BTC_USDT")]}, delay=30.0)
    async with tracking(tmp_path, rest, seed_timeout=0.2) as tracker:
        assert tracker.seed_deadlines == 0
        posted = await seed(tracker, 9)  # within wait_for's 10 s, not the fake's 30
        assert tracker.seed_deadlines == 1
    assert rest.seeded == ["BTC_USDT"]  # given up on, not followed by the next symbol
    assert posted[0] == SeedBegin(9)
    failed = posted[-1]
    assert isinstance(failed, SeedFailed) and failed.token == 9 and failed.cause == NotLive.EXCHANGE
    assert "BTC_USDT" in failed.reason and "seed_timeout" in failed.reason


async def resolve(tracker: Tracker, order_ids: list[str]) -> list[Event]:
    """The resolver's answers to `order_ids`, asked in that order."""
    task = asyncio.create_task(tracker._resolver())
    try:
        for oid in order_ids:
            tracker._run(AskDetail(oid))
        return [await asyncio.wait_for(tracker.queue.next(), timeout=5) for _ in order_ids]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_resolver_answers_each_question_in_turn(tmp_path: Path) -> None:
    row = v2_row(33, "BTC_USDT", status=3) | {"executed_amount": "1", "remaining_amount": "0"}
    rest = FakeRest(details={"31": NotFound("order not found"),
                             "32": Unreachable("no answer within 10 s"),
                             "34": ExchangeError("answer without data"),
                             "33": row})
    async with tracking(tmp_path, rest) as tracker:
        answers = await resolve(tracker, ["31", "32", "34", "33"])
    assert answers == [Detail("31", None, None),  # unknown to the exchange: no error
                       Detail("32", None, "no answer within 10 s"),
                       Detail("34", None, "answer without data"),
                       Detail("33", row, None)]
    assert answers[-1].row is row  # as the exchange answered, for the session to decode


async def test_the_resolver_asks_with_the_symbol_the_book_holds(tmp_path: Path) -> None:
    """OKX looks an order up by instrument and id: the resolver passes the symbol of the
    book's row, and None for an order the book holds no row of."""
    row = v2_row(33, "ETH_USDT", status=3) | {"executed_amount": "1", "remaining_amount": "0"}
    rest = FakeRest(details={"33": row, "44": NotFound("order not found")})
    async with tracking(tmp_path, rest) as tracker:
        tracker.session.book.apply(tracker.session.codec.seed_row(v2_row(33, "ETH_USDT")))
        await resolve(tracker, ["33", "44"])
    assert rest.asked == [("33", "ETH_USDT"), ("44", None)]



# -- the markets ---------------------------------------------------------------------

def view(tmp_path: Path) -> list[tuple[str, str | None, str | None]]:
    conn = sqlite3.connect(f"file:{tmp_path / 'orders.db'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT order_id, venue, unified_symbol FROM open_orders "
                            "ORDER BY order_id").fetchall()
    finally:
        conn.close()


async def write_posted(tracker: Tracker) -> None:
    """What is queued, then a stop, through the consumer as the daemon runs it."""
    tracker.queue.put_nowait(Stop())
    await asyncio.wait_for(tracker._consume(), timeout=10)


async def test_markets_are_recorded_in_the_book_and_only_what_is_new_is_written_again(
        tmp_path: Path) -> None:
    first = {"BTC_USDT": ("BTC", "USDT"), "ETH_USDT": ("ETH", "USDT")}
    rest = FakeRest(rows={"BTC_USDT": [v2_row(11, "BTC_USDT")],
                          "ETH_USDT": [v2_row(21, "ETH_USDT")]},
                    markets=[first, first | {"SOL_USDT": ("SOL", "USDT")}])
    async with tracking(tmp_path, rest) as tracker:
        await tracker.read_markets()
        (posted,) = drain(tracker.queue)
        assert posted == Markets_([("bitmart", "BTC_USDT", "BTC", "USDT"),
                                   ("bitmart", "ETH_USDT", "ETH", "USDT")])
        assert rest.markets_asked == [list(SYMBOLS)]
        await tracker.read_markets()  # a new listing: that one only
        assert drain(tracker.queue) == [Markets_([("bitmart", "SOL_USDT", "SOL", "USDT")])]
        tracker.queue.put_nowait(posted)
        tracker.queue.put_nowait(Markets_([("bitmart", "SOL_USDT", "SOL", "USDT")]))
        with sqlite3.connect(tmp_path / "orders.db") as conn:
            conn.execute("INSERT INTO orders VALUES ('11', 'BTC_USDT', 'buy', 'limit', '1', "
                         "'1', '0', '0', 'new', NULL, 1, 1, 'push', 0, 1, 1)")
        await write_posted(tracker)
    assert view(tmp_path) == [("11", "bitmart", "BTC/USDT")]
    with sqlite3.connect(tmp_path / "orders.db") as conn:
        assert conn.execute("SELECT * FROM markets ORDER BY symbol").fetchall() == [
            ("bitmart", "BTC_USDT", "BTC", "USDT", "BTC/USDT"),
            ("bitmart", "ETH_USDT", "ETH", "USDT", "ETH/USDT"),
            ("bitmart", "SOL_USDT", "SOL", "USDT", "SOL/USDT")]


async def test_a_markets_failure_is_said_once_and_read_again_after_the_next_seed(
        tmp_path: Path) -> None:
    """The book goes on without the markets: nothing is posted, nothing raised out of the
    task that reads them, one line said, and the next seed makes them due again."""
    rest = FakeRest(rows={"BTC_USDT": [v2_row(11, "BTC_USDT")]},
                    markets=[Unreachable("GET /spot/v1/symbols/details: no answer"),
                             KeyError("symbols"),
                             {"BTC_USDT": ("BTC", "USDT"), "ETH_USDT": ("ETH", "USDT")}])
    async with tracking(tmp_path, rest) as tracker:
        with capture_logs() as logs:
            task = asyncio.create_task(tracker._markets())  # due at the start
            await asyncio.sleep(0.05)
            assert not task.done() and not tracker.markets_due.is_set()
            tracker.markets_due.set()
            await asyncio.sleep(0.05)
            assert not task.done() and len(rest.markets_asked) == 2
            assert drain(tracker.queue) == []
            assert [e["event"] for e in logs] == ["markets_unread"]
            assert logs[0]["error"] == "GET /spot/v1/symbols/details: no answer"
            posted = await seed(tracker, 4)
            await asyncio.sleep(0.05)
            task.cancel()
        posted += drain(tracker.queue)
        assert any(isinstance(e, Seeded) for e in posted)
        said = [e["event"] for e in logs if e["event"].startswith("markets_")]
        assert said == ["markets_unread", "markets_read"]
        (markets,) = [e for e in posted if isinstance(e, Markets_)]
        assert len(markets.rows) == 2
        tracker.queue.put_nowait(markets)
        await write_posted(tracker)
    with sqlite3.connect(tmp_path / "orders.db") as conn:
        assert conn.execute("SELECT unified_symbol FROM markets ORDER BY 1").fetchall() == [
            ("BTC/USDT",), ("ETH/USDT",)]


async def test_a_market_the_book_would_refuse_is_left_out_and_named_once(
        tmp_path: Path) -> None:
    """A row that fails the table's checks would fail its whole batch, for ever: a symbol
    that is not the venue's, an empty base, a slash or a space in a currency are left out."""
    odd = {"BTC_USDT": ("BTC", "USDT"), "btc-usdt": ("BTC", "USDT"),
           "ETH_USDT": ("", "USDT"), "SOL_USDT": ("SOL/X", "USDT"),
           "BMX_ETH": ("BMX", "E TH")}
    rest = FakeRest(markets=[odd, odd])
    async with tracking(tmp_path, rest) as tracker:
        with capture_logs() as logs:
            await tracker.read_markets()
            await tracker.read_markets()
        assert drain(tracker.queue) == [Markets_([("bitmart", "BTC_USDT", "BTC", "USDT")])]
    assert [(e["event"], e["count"], e["symbols"]) for e in logs] == [
        ("markets_refused", 4, "BMX_ETH,ETH_USDT,SOL_USDT,btc-usdt")]
