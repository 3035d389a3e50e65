"""Binance's codec over every payload shape the docs and the captures show, and over
broken ones (each refused with its reason)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tracker.book import Book, Outcome
from tracker.codec import Invalid
from tracker.venues.binance.codec import STATE, from_event, from_rest, open_orders_answer
from tracker.venues.binance.protocol import STATUS
from tracker.venues.binance.venue import Reader

from .payloads import EVENT_2018, EVENT_2023, EVENT_2026, REST_ROW, event


def test_the_documented_open_orders_row() -> None:
    u = from_rest(REST_ROW, "seed")
    assert (u.order_id, u.symbol, u.side, u.state, u.type) == (
        "LTCBTC:1", "LTCBTC", "buy", "new", "limit")
    assert (u.price, u.size, u.filled_size) == (Decimal("0.1"), Decimal("1.0"), Decimal("0.0"))
    assert str(u.size) == "1.0"  # as Binance wrote it
    assert u.filled_notional == Decimal("0.0") and u.client_order_id == "myOrder1"
    assert (u.create_time, u.update_time, u.source) == (1499827319559, 1499827319559, "seed")


@pytest.mark.parametrize(("status", "executed", "state"), [
    ("NEW", "0.0", "new"), ("PENDING_NEW", "0.0", "new"),
    ("PARTIALLY_FILLED", "0.4", "partially_filled"), ("FILLED", "1.0", "filled"),
    ("CANCELED", "0.0", "canceled"), ("CANCELED", "0.4", "partially_canceled"),
    ("EXPIRED", "0.0", "canceled"), ("EXPIRED", "0.4", "partially_canceled"),
    ("EXPIRED_IN_MATCH", "0.0", "canceled"), ("EXPIRED_IN_MATCH", "0.4", "partially_canceled"),
    ("REJECTED", "0.0", "failed"),
    ("PENDING_CANCEL", "0.0", "new"), ("PENDING_CANCEL", "0.4", "partially_filled"),
])
def test_every_status(status: str, executed: str, state: str) -> None:
    assert from_rest(REST_ROW | {"status": status, "executedQty": executed},
                     "detail").state == state
    assert from_event(event(X=status, z=executed, q="1.0")).state == state


def test_every_status_binance_documents_has_a_state() -> None:
    assert set(STATE) == set(STATUS)


def test_the_2026_event() -> None:
    u = from_event(EVENT_2026)
    assert (u.order_id, u.symbol, u.side, u.state, u.source) == (
        "ETHBTC:4293153", "ETHBTC", "buy", "new", "push")
    assert (u.price, u.size, u.filled_size) == (
        Decimal("0.10264410"), Decimal("1.00000000"), Decimal(0))
    assert (u.client_order_id, u.create_time, u.update_time, u.fill_id) == (
        "mUvoqJxFIILMdfAW5iGSOW", 1499405658657, 1499405658657, None)


def test_the_2023_event() -> None:
    u = from_event(EVENT_2023)
    assert (u.order_id, u.side, u.client_order_id) == (
        "BTCUSDT:21548813377", "sell", "web_7f1c2d3e4f")


def test_the_2018_event_with_its_odd_values() -> None:
    """No Y/Q/W/V; `"O": -1` and a negative `Z` mean "not said", and the order is kept."""
    u = from_event(EVENT_2018)
    assert (u.state, u.filled_size, u.fill_id) == (
        "partially_filled", Decimal("0.50000000"), "31234567")
    assert u.create_time is None and u.filled_notional is None
    assert u.update_time == 1520000000498


def test_unknown_fields_and_new_conditional_ones_are_ignored() -> None:
    extra = event(x="EXPIRED", X="EXPIRED", eR="INSUFFICIENT_LIQUIDITY", gP="PRIMARY_PEG",
                  gOV=5, uS=True, brandNew={"a": 1})
    assert from_event(extra).state == "canceled"


def test_a_cancel_keeps_the_orders_own_client_id() -> None:
    """On a cancel `c` is the cancel request's id, `C` the order's ([BN] rest-api.md)."""
    canceled = event(x="CANCELED", X="CANCELED", c="cancelReq7", C="myOrder1")
    assert from_event(canceled).client_order_id == "myOrder1"
    # Elsewhere `C` is empty (or "null" in 2018) and `c` is the order's.
    assert from_event(event(c="myOrder1", C="")).client_order_id == "myOrder1"
    assert from_event(EVENT_2018).client_order_id == "and_4b1f6f1c0f2d"


def test_an_amend_carries_the_new_client_id() -> None:
    """Amend keep-priority gives the order a new client id ([BN]
    faqs/order_amend_keep_priority.md): the event's `c` is the order's id from then on."""
    amended = event(x="REPLACED", c="amendedId", C="myOrder1", q="0.50000000")
    assert from_event(amended).client_order_id == "amendedId"


def test_non_ascii_symbols() -> None:
    u = from_event(event(s="这是测试币456", i=7))
    assert (u.order_id, u.symbol) == ("这是测试币456:7", "这是测试币456")
    fullwidth = "\uff11\uff12\uff13\uff14\uff15\uff16"  # [BN] rest-api.md's example symbol
    assert from_rest(REST_ROW | {"symbol": fullwidth}, "seed").order_id == f"{fullwidth}:1"


def test_two_symbols_with_the_same_order_id_are_two_orders() -> None:
    book = Book()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert book.apply(from_event(event(s=symbol, i=5)))[0] is Outcome.APPLIED
    assert set(book.rows) == {"BTCUSDT:5", "ETHUSDT:5"}
    assert book.open_count() == 2


def test_market_orders_by_quote_amount() -> None:
    """Placed by `quoteOrderQty`: `q` is 0 or what the engine computed, and the filled
    quantity is not held to it."""
    by_quote = event(o="MARKET", p="0.00000000", q="0.00000000", Q="100.00000000",
                     x="TRADE", X="FILLED", z="0.00110000", Z="99.99000000")
    u = from_event(by_quote)
    assert (u.state, u.size, u.filled_size, u.type) == (
        "filled", Decimal(0), Decimal("0.00110000"), "market")
    computed = by_quote | {"q": "0.00120000"}
    assert from_event(computed).size == Decimal("0.00120000")
    row = REST_ROW | {"type": "MARKET", "origQty": "0.0", "origQuoteOrderQty": "100.0",
                      "status": "FILLED", "executedQty": "0.0011"}
    assert from_rest(row, "detail").state == "filled"


def test_an_unknown_order_type_is_left_unsaid() -> None:
    assert from_event(event(o="PEGGED_LIMIT")).type is None
    assert from_event(event(o="STOP_LOSS_LIMIT")).type == "stop_loss_limit"


@pytest.mark.parametrize(("change", "reason"), [
    ({"X": "WEIRD"}, "unknown order status 'WEIRD'"),
    ({"X": None}, "unknown order status None"),
    ({"S": "buy"}, "side must be BUY or SELL"),
    ({"q": 1.0}, "q must be a decimal string"),
    ({"p": "1e-5"}, "p is not a plain non-negative decimal"),
    ({"z": "-1"}, "z is not a plain non-negative decimal"),
    ({"i": -1}, "i must be a non-negative integer"),
    ({"i": "4293153"}, "i must be a non-negative integer"),
    ({"s": "btcusdt"}, "s is not a Binance symbol"),
    ({"s": "BTC_USDT"}, "s is not a Binance symbol"),
    ({"s": "BTC USDT"}, "s is not a Binance symbol"),
    ({"c": "has space"}, "client order id is malformed"),
    ({"T": "soon"}, "T must be integer milliseconds"),
    ({"X": "FILLED", "z": "0.5"}, "state filled but filled size 0.5"),
    ({"X": "PARTIALLY_FILLED", "z": "2"}, "filled size 2 exceeds order size"),
    ({"X": "NEW", "z": "0.5"}, "state new with a non-zero filled size"),
])
def test_refusals_say_why(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(Invalid, match=reason.replace("(", r"\(")):
        from_event(event(**change))


@pytest.mark.parametrize("missing", ["s", "i", "S", "X", "q", "z", "p", "T"])
def test_a_missing_field_is_named(missing: str) -> None:
    payload = dict(EVENT_2026)
    del payload[missing]
    with pytest.raises(Invalid, match=f"missing field '{missing}'"):
        from_event(payload)
    with pytest.raises(Invalid, match="must be a JSON object"):
        from_event([payload])


@pytest.mark.parametrize("missing", ["symbol", "orderId", "side", "status", "origQty",
                                     "executedQty", "price", "updateTime"])
def test_a_rest_row_missing_a_field_is_named(missing: str) -> None:
    row = dict(REST_ROW)
    del row[missing]
    with pytest.raises(Invalid, match=f"missing field '{missing}'"):
        from_rest(row, "seed")


def test_the_reader_names_orders_as_the_book_does() -> None:
    reader = Reader()
    assert reader.element_id(EVENT_2026) == "ETHBTC:4293153"
    assert reader.element_id(event(i="7")) is None and reader.element_id([1]) is None
    assert reader.order_id.fullmatch("这是测试币456:7")
    assert not reader.order_id.fullmatch("BTCUSDT") and not reader.order_id.fullmatch("1")
    assert reader.seed_row(REST_ROW).source == "seed"
    assert reader.detail(REST_ROW).source == "detail"
    assert reader.push_element(EVENT_2026).source == "push"


def test_rows_share_their_amounts_by_spelling() -> None:
    """A seed of 100,000 unfilled orders holds one "0.00000000" for the filled size and
    the quote amount, not 200,000 copies (some 20 MB), on either path; amounts spelled
    apart stay apart, as the journal keeps each spelling."""
    rows = [REST_ROW | {"orderId": n, "executedQty": "0.00000000",
                        "cummulativeQuoteQty": "0.00000000"} for n in (1, 2)]
    fast = open_orders_answer(json.dumps(rows).encode(), "seed")
    assert fast is not None
    for first, second in (fast, [from_rest(r, "seed") for r in rows]):
        assert first.filled_size is second.filled_size is first.filled_notional
        assert first.price is second.price
    one = from_rest(REST_ROW | {"price": "1.0"}, "seed")
    other = from_rest(REST_ROW | {"price": "1.00"}, "seed")
    assert (repr(one.price), repr(other.price)) == ("Decimal('1.0')", "Decimal('1.00')")
