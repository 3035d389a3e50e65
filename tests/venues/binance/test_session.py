"""Binance's orders through the session (pure, fed events): a vanished order that the
lookup keeps not knowing (-2026 archived, or -2013 twice) and that had nothing filled is
recorded canceled as `inferred_archived`; one with a fill never is."""

from __future__ import annotations

from tests.test_session import Driver, Seqs
from tracker.config import Config
from tracker.events import Detail, Push, SeedBegin, Tick, Up
from tracker.session import AskDetail, Phase, Session, StartSeed
from tracker.venues.binance.codec import from_rest
from tracker.venues.binance.venue import Settings

from .payloads import REST_ROW, event

T0 = 1_767_225_600_000


def driver() -> Driver:
    config = Config(venue="binance", venue_settings=Settings(), symbols=("BTCUSDT",),
                    grace_period=3.0, forgotten_after=300.0, reconcile_interval=900.0)
    return Driver(Session(config, Seqs()))


def row(order_id: int, filled: str = "0.0", status: str = "NEW") -> dict:
    return REST_ROW | {"symbol": "BTCUSDT", "orderId": order_id, "executedQty": filled,
                       "status": status, "time": T0, "updateTime": T0 + order_id}


def vanished(d: Driver, *kept: int, gone: int) -> None:
    """Live with orders `kept` and `gone`; a reconcile no longer lists `gone`."""
    d.feed(Up(1))
    d.feed(SeedBegin(d.token))
    d.seed(*(from_rest(row(i), "seed") for i in (*kept, gone)))
    assert d.session.phase is Phase.LIVE
    d.later(900).feed(Tick())
    d.feed(SeedBegin(d.token))
    d.seed(*(from_rest(row(i), "seed") for i in kept))
    d.later(4).feed(Tick())
    assert AskDetail(f"BTCUSDT:{gone}") in d.effects


def not_known_for(d: Driver, oid: str, seconds: int) -> None:
    d.feed(Detail(oid, None, None))
    for _ in range(seconds // 60):
        d.later(60).feed(Tick())
        if AskDetail(oid) in d.effects:
            d.feed(Detail(oid, None, None))


def test_an_unfilled_order_binance_no_longer_knows_is_inferred_canceled() -> None:
    d = driver()
    vanished(d, 1, gone=2)
    not_known_for(d, "BTCUSDT:2", 400)
    gone = d.session.book.rows["BTCUSDT:2"]
    assert (gone.state, gone.source) == ("canceled", "inferred_archived")
    assert not d.session.unresolved


def test_an_order_with_a_fill_is_never_inferred() -> None:
    """Binance archives only orders with nothing filled ([BN] errors.md -2026)."""
    d = driver()
    d.feed(Up(1))
    d.feed(SeedBegin(d.token))
    d.seed(from_rest(row(2, "0.5", "PARTIALLY_FILLED") | {"origQty": "1.0"}, "seed"),
           from_rest(row(1), "seed"))
    d.later(900).feed(Tick())
    d.feed(SeedBegin(d.token))
    d.seed(from_rest(row(1), "seed"))
    d.later(4).feed(Tick())
    not_known_for(d, "BTCUSDT:2", 1200)
    assert d.session.book.rows["BTCUSDT:2"].state == "partially_filled"
    assert d.session.unresolved == {"BTCUSDT:2"}


def test_the_answer_resolves_it_and_a_push_of_it_lands() -> None:
    d = driver()
    vanished(d, 1, gone=2)
    d.feed(Detail("BTCUSDT:2", row(2, status="CANCELED") | {"updateTime": T0 + 99}, None))
    assert d.session.book.rows["BTCUSDT:2"].state == "canceled"
    assert d.session.book.rows["BTCUSDT:2"].source == "detail"
    d.feed(Push(1, [event(s="BTCUSDT", i=1, x="TRADE", X="PARTIALLY_FILLED", q="1.0",
                          z="0.5", T=T0 + 500)], T0 + 500))
    assert d.session.book.rows["BTCUSDT:1"].state == "partially_filled"


def test_a_splice_reads_the_open_orders_only_a_rest_lag_after_subscribing() -> None:
    """Binance's REST reads may trail its stream: read at once, an order closed just before
    the subscription could be seeded open, with no event left to close it."""
    d = driver()
    d.feed(Up(1))
    assert d.effects[-1] == StartSeed(d.token, Settings().rest_lag_ms / 1000)
    assert Settings().rest_lag_ms > 0
