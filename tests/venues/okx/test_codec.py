"""OKX's codec over every state and payload shape the docs show (tests/venues/okx/payloads
.py says where each comes from), through the merge rule where the order of updates is the
point (amends, repeats), and over broken payloads, each refused with its reason."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from tracker.book import Book, Outcome
from tracker.codec import Invalid
from tracker.venues.okx.codec import STATE, element_id, from_push, from_rest
from tracker.venues.okx.protocol import STATES

from .payloads import (
    DETAIL_ANSWER,
    PUSH_AMENDED,
    PUSH_CANCELED,
    PUSH_CANCELED_PARTLY,
    PUSH_FILLED,
    PUSH_LIVE,
    PUSH_MARKET_BUY,
    PUSH_MMP_CANCELED,
    PUSH_PARTIAL,
    SEED_ROW,
)


def test_the_documented_orders_pending_row() -> None:
    u = from_rest(SEED_ROW, "seed")
    assert (u.order_id, u.symbol, u.side, u.state, u.type, u.source) == (
        "1752588852617379840", "BTC-USDT", "buy", "new", "post_only", "seed")
    assert (u.price, u.size, u.filled_size) == (
        Decimal("13013.5"), Decimal("0.001"), Decimal(0))
    assert str(u.price) == "13013.5" and str(u.size) == "0.001"  # as OKX wrote them
    assert u.client_order_id is None  # clOrdId ""
    assert u.fill_id is None  # tradeId ""
    assert u.filled_notional is None
    assert (u.create_time, u.update_time) == (1724733617998, 1724733617998)


def test_the_documented_push() -> None:
    u = from_push(PUSH_FILLED)
    assert (u.order_id, u.symbol, u.side, u.state, u.type, u.source) == (
        "452197707845865472", "BTC-USDT", "sell", "filled", "limit", "push")
    assert (u.price, u.size, u.filled_size) == (
        Decimal("31527.1"), Decimal("0.001"), Decimal("0.001"))
    assert (u.create_time, u.update_time, u.fill_id) == (
        1654084334977, 1654084353264, "242589207")
    # accFillSz x avgPx would be 31.5271 here, but avgPx is a rounded average in general.
    assert u.filled_notional is None


def test_an_order_detail_answer_reads_as_its_push_does() -> None:
    detail = from_rest(DETAIL_ANSWER["data"][0], "detail")
    assert detail == msgspec.structs.replace(from_push(PUSH_FILLED), source="detail")


@pytest.mark.parametrize(("payload", "state", "filled"), [
    (PUSH_LIVE, "new", "0"),
    (PUSH_PARTIAL, "partially_filled", "0.0004"),
    (PUSH_FILLED, "filled", "0.001"),
    (PUSH_CANCELED, "canceled", "0"),
    (PUSH_CANCELED_PARTLY, "partially_canceled", "0.0004"),
    (PUSH_MMP_CANCELED, "canceled", "0"),
    (PUSH_MMP_CANCELED | {"accFillSz": "0.0004"}, "partially_canceled", "0.0004"),
])
def test_every_state(payload: dict[str, Any], state: str, filled: str) -> None:
    for u in (from_push(payload), from_rest(payload, "detail")):
        assert (u.state, u.filled_size) == (state, Decimal(filled))


def test_every_state_okx_documents_has_a_book_word() -> None:
    assert set(STATE) == set(STATES)


def test_an_ioc_partly_filled_then_canceled() -> None:
    """[OKX] #order-book-trading-trade-get-order-details: state canceled, accFillSz > 0."""
    ioc = PUSH_PARTIAL | {"ordType": "ioc", "state": "canceled", "cancelSource": "14"}
    u = from_push(ioc)
    assert (u.state, u.type, u.filled_size) == ("partially_canceled", "ioc", Decimal("0.0004"))


def test_a_market_buy_sized_in_quote() -> None:
    """No price (`px` ""), and sz in USDT against accFillSz in BTC: not compared."""
    u = from_push(PUSH_MARKET_BUY)
    assert (u.type, u.price, u.size, u.filled_size, u.state) == (
        "market", Decimal(0), Decimal("100"), Decimal("0.00317"), "filled")
    quote = PUSH_MARKET_BUY | {"side": "sell", "tgtCcy": "quote_ccy"}
    assert from_push(quote).size == Decimal("100")


def test_a_market_sell_sized_in_base_is_held_to_its_size() -> None:
    sell = PUSH_MARKET_BUY | {"side": "sell", "sz": "0.001", "accFillSz": "0.002"}
    words = re.escape("filled size 0.002 exceeds order size 0.001")
    with pytest.raises(Invalid, match=words):
        from_push(sell | {"state": "partially_filled"})
    with pytest.raises(Invalid, match=words):
        from_push(sell | {"tgtCcy": "base_ccy", "side": "buy", "state": "partially_filled"})


def test_an_order_amended_below_its_fills_becomes_filled() -> None:
    """[OKX] #order-book-trading-trade-post-amend-order: newSz at or below the filled
    quantity fills the order. The size it then reports is not documented: a filled order
    is not refused for fills past it."""
    u = from_push(PUSH_PARTIAL | {"state": "filled", "sz": "0.0003"})
    assert (u.state, u.size, u.filled_size) == ("filled", Decimal("0.0003"), Decimal("0.0004"))


def test_unknown_order_types_and_fields_are_not_refused() -> None:
    u = from_push(PUSH_LIVE | {"ordType": "brand_new", "newField": {"a": 1}})
    assert u.type is None and u.state == "new"


def test_a_client_order_id() -> None:
    assert from_push(PUSH_LIVE | {"clOrdId": "b15"}).client_order_id == "b15"
    assert from_push(PUSH_LIVE | {"clOrdId": "web_7f1c-2d"}).client_order_id == "web_7f1c-2d"


def test_the_life_of_an_order_through_the_merge_in_any_order() -> None:
    """live, a fill, an amend (sz down, accFillSz unchanged, a later uTime), the cancel:
    the book ends at the cancel whichever order they come in; before the cancel, the
    amend wins over the fill it follows."""
    steps = [PUSH_LIVE, PUSH_PARTIAL, PUSH_AMENDED, PUSH_CANCELED_PARTLY]
    for order in (steps, steps[::-1], [steps[2], steps[0], steps[3], steps[1]]):
        book = Book()
        for step in order:
            book.apply(from_push(step))
        assert (book.rows["452197707845865472"].state,
                book.rows["452197707845865472"].size) == ("partially_canceled",
                                                             Decimal("0.0008"))
    book = Book()
    book.apply(from_push(PUSH_PARTIAL))
    outcome, row = book.apply(from_push(PUSH_AMENDED))
    assert outcome is Outcome.APPLIED and row.size == Decimal("0.0008")
    outcome, row = book.apply(from_push(PUSH_PARTIAL))  # the fill again, late
    assert outcome is Outcome.STALE and row.size == Decimal("0.0008")


def test_a_repeated_push_with_another_utime_changes_no_state_or_fill() -> None:
    """[OKX] #order-book-trading-trade-ws-order-channel: "the same message may be sent
    multiple times (perhaps with the different uTime)"."""
    book = Book()
    book.apply(from_push(PUSH_FILLED))
    assert book.apply(from_push(PUSH_FILLED))[0] is Outcome.DUPLICATE
    for utime in ("1654084353300", "1654084353200"):  # later, then earlier
        _, row = book.apply(from_push(PUSH_FILLED | {"uTime": utime}))
        assert (row.state, row.filled_size, row.size, row.price) == (
            "filled", Decimal("0.001"), Decimal("0.001"), Decimal("31527.1"))


def test_a_push_outranks_a_seed_row_of_the_same_progress() -> None:
    book = Book()
    book.apply(from_rest(PUSH_LIVE, "seed"))
    assert book.apply(from_push(PUSH_LIVE))[1].source == "push"


@pytest.mark.parametrize(("change", "reason"), [
    ({"sz": 0.001}, "sz must be a decimal string, not float"),
    ({"sz": "1e-3"}, "sz is not a plain non-negative decimal"),
    ({"accFillSz": "-0.1"}, "accFillSz is not a plain non-negative decimal"),
    ({"accFillSz": ""}, "accFillSz is not a plain non-negative decimal"),
    ({"px": "NaN"}, "px is not a plain non-negative decimal"),
    ({"px": ""}, "px is not a plain non-negative decimal"),  # a limit order has a price
    ({"sz": "1" * 31}, "sz is not a plain non-negative decimal"),  # absurdly long
    ({"px": "0." + "1" * 31}, "px is not a plain non-negative decimal"),
    ({"state": "pending"}, "unknown order state 'pending'"),
    ({"state": None}, "unknown order state None"),
    ({"state": "LIVE"}, "unknown order state 'LIVE'"),
    ({"side": "BUY"}, "side must be buy or sell"),
    ({"ordId": 452197707845865472}, "ordId must be a string of digits, not"),
    ({"ordId": "abc"}, "ordId must be a string of digits, not 'abc'"),
    ({"ordId": ""}, "ordId must be a string of digits"),
    ({"instId": "BTC-USDT-SWAP"}, "instId is not a spot instrument"),
    ({"instId": ["BTC-USDT"]}, "instId is not a spot instrument"),
    ({"instType": "MARGIN"}, "instType is 'MARGIN', not SPOT"),
    ({"uTime": 1654084334977.5}, "uTime must be integer milliseconds"),
    ({"uTime": ""}, "uTime must be integer milliseconds"),
    ({"uTime": "99999999999999"}, "uTime is out of range"),
    ({"cTime": "-1"}, "cTime must be integer milliseconds"),
    ({"clOrdId": 15}, "clOrdId is malformed"),
    ({"clOrdId": "has space"}, "clOrdId is malformed"),
    ({"state": "live", "accFillSz": "0.0004"}, "state new with a non-zero filled size"),
    ({"state": "partially_filled", "accFillSz": "0.002"},
     "filled size 0.002 exceeds order size 0.001"),
    ({"state": "filled", "accFillSz": "0.0004"},
     "state filled but filled size 0.0004 is not the size 0.001"),
])
def test_refusals_say_why(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(Invalid, match=re.escape(reason)):
        from_push(PUSH_FILLED | change)


@pytest.mark.parametrize("missing", ["instId", "ordId", "side", "sz", "accFillSz", "px",
                                     "state", "uTime"])
def test_a_missing_field_is_named(missing: str) -> None:
    row = {k: v for k, v in PUSH_FILLED.items() if k != missing}
    with pytest.raises(Invalid, match=f"missing field '{missing}'"):
        from_rest(row, "seed")


def test_fields_that_may_be_missing() -> None:
    """cTime, clOrdId, tradeId, ordType and instType are read if present (REST answers of
    2021 lack some fields pushes have: venues.md section 4)."""
    row = {k: v for k, v in PUSH_FILLED.items()
           if k not in ("cTime", "clOrdId", "tradeId", "ordType", "instType")}
    u = from_rest(row, "detail")
    assert (u.create_time, u.client_order_id, u.fill_id, u.type) == (None, None, None, None)
    assert from_rest(PUSH_FILLED | {"cTime": ""}, "detail").create_time is None  # "" is none


@pytest.mark.parametrize("element", [None, [], "x", 5])
def test_an_element_that_is_no_object(element: Any) -> None:
    with pytest.raises(Invalid, match="an order must be a JSON object"):
        from_push(element)


@pytest.mark.parametrize(("raw", "order_id"), [
    (PUSH_FILLED, "452197707845865472"), ({"ordId": "12"}, "12"),
    ({"ordId": 12}, None), ({"ordId": "x"}, None), ({}, None), ("12", None), (None, None),
])
def test_element_id(raw: Any, order_id: str | None) -> None:
    assert element_id(raw) == order_id
