"""The codec over the payload shapes the protocol notes record, and over broken ones."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tracker.batch import Batch
from tracker.book import Outcome
from tracker.codec import Invalid
from tracker.sqlite import readers
from tracker.sqlite.store import Store
from tracker.venues.bitmart import codec
from tracker.venues.bitmart.codec import from_push, from_v2, from_v4
from tracker.venues.bitmart.venue import Dialect

# protocol notes §1.5, the documented example row
V2_ROW = {"entrust_id": 1223181, "symbol": "BMX_ETH", "timestamp": 1528060666000,
          "side": "buy", "price": "1.000000", "fees": "0.1", "original_amount": "1",
          "executed_amount": "1", "remaining_amount": "0", "status": 3}

# protocol notes §2.6, the documented example object
V4_ROW = {"orderId": "125213058731346056", "clientOrderId": "125213058731346056",
          "symbol": "BTC_USDT", "side": "buy", "orderMode": "spot", "type": "limit",
          "state": "new", "cancelSource": "", "stpMode": "", "price": "800.00",
          "priceAvg": "0.00", "size": "0.10000", "filledSize": "0.00000",
          "notional": "80.00000000", "filledNotional": "0.00000000",
          "createTime": 1681892198608, "updateTime": 1681892198946}

# protocol notes §3.4, the documented push (legacy state 4 beside order_state)
PUSH = {"symbol": "BTC_USDT", "side": "buy", "type": "market", "notional": "",
        "size": "1.0000000000", "ms_t": "1609926028000", "price": "46100.0000000000",
        "filled_notional": "46100.0000000000", "filled_size": "1.0000000000",
        "margin_trading": "0", "state": "4", "order_id": "2147857398", "order_type": "0",
        "last_fill_time": "1609926039226", "last_fill_price": "46100.00000",
        "last_fill_count": "1.00000", "exec_type": "M", "detail_id": "256348632",
        "client_order_id": "order4872191", "create_time": "1609926028000",
        "update_time": "1609926044000", "order_mode": "spot", "entrust_type": "normal",
        "order_state": "partially_filled", "dealFee": "10.00", "deal_fee_coin_name": "BMX"}


def test_v2_example_row() -> None:
    u = from_v2(V2_ROW)
    assert (u.order_id, u.symbol, u.side, u.state) == ("1223181", "BMX_ETH", "buy", "filled")
    assert u.price == Decimal("1.000000") and u.size == u.filled_size == Decimal(1)
    assert u.create_time == 1528060666000 and u.update_time is None
    assert u.source == "seed_v2" and u.type is None


@pytest.mark.parametrize(("status", "executed", "state"), [
    (1, "0", "new"), (2, "0.5", "partially_filled"), (3, "1", "filled"),
    (4, "0", "canceled"), (4, "0.5", "partially_canceled"), ("2", "0.5", "partially_filled"),
])
def test_v2_status_codes(status: Any, executed: str, state: str) -> None:
    row = V2_ROW | {"status": status, "executed_amount": executed}
    assert from_v2(row, source="detail_v2").state == state


def test_v4_example_row_drops_the_echoed_client_id() -> None:
    u = from_v4(V4_ROW)
    assert (u.order_id, u.state, u.type) == ("125213058731346056", "new", "limit")
    assert u.client_order_id is None  # REST echoes the order id when none was set
    assert u.size == Decimal("0.10000") and u.filled_notional == Decimal(0)
    assert (u.create_time, u.update_time) == (1681892198608, 1681892198946)
    assert from_v4(V4_ROW | {"clientOrderId": "mine1"}).client_order_id == "mine1"
    # ccxt once printed the times as strings: accepted.
    assert from_v4(V4_ROW | {"updateTime": "1681892198946"}).update_time == 1681892198946


@pytest.mark.parametrize(("api", "row", "key"), [("v2", V2_ROW, "entrust_id"),
                                                  ("v4", V4_ROW, "orderId")])
def test_a_dialects_rows_share_one_source_string(api: str, row: dict[str, Any],
                                                 key: str) -> None:
    """A seed of 100,000 rows holds one "seed_v2", not 100,000 copies (some 5 MB)."""
    dialect = Dialect(api)
    first, second = (dialect.seed_row(row | {key: oid}) for oid in ("11", "12"))
    assert first.source == f"seed_{api}" and first.source is second.source
    detail = dialect.detail(row)
    assert detail.source == f"detail_{api}" and detail.source is dialect.detail(row).source


def test_market_buy_partially_canceled_is_terminal() -> None:
    row = V4_ROW | {"type": "market", "state": "partially_canceled", "price": "0.00",
                    "size": "0.00000", "filledSize": "0.00016"}
    u = from_v4(row)
    assert u.state == "partially_canceled" and not u.is_open


def test_documented_push_prefers_order_state() -> None:
    u = from_push(PUSH)
    assert u.state == "partially_filled" and u.source == "push"
    assert u.client_order_id == "order4872191" and u.fill_id == "256348632"
    assert u.update_time == 1609926044000 and u.create_time == 1609926028000
    assert u.filled_size == Decimal("1.0000000000")


@pytest.mark.parametrize(("legacy", "filled", "state"), [
    ("4", "0", "new"), ("5", "0.5", "partially_filled"), ("6", "1", "filled"),
    ("8", "0", "canceled"), ("12", "0.5", "partially_canceled"), ("7", "0.5",
                                                                  "partially_filled"),
    ("7", "0", "new"), ("1", "0", "failed"),
])
def test_legacy_push_states(legacy: str, filled: str, state: str) -> None:
    row = {k: v for k, v in PUSH.items() if k != "order_state"}
    row |= {"state": legacy, "filled_size": filled, "client_order_id": "0"}
    u = from_push(row)
    assert u.state == state and u.client_order_id is None


def test_non_fill_push_without_detail_id() -> None:
    row = {k: v for k, v in PUSH.items() if k not in ("exec_type", "detail_id")}
    row |= {"order_state": "new", "filled_size": "0", "filled_notional": "0"}
    assert from_push(row).fill_id is None


@pytest.mark.parametrize(("parser", "base", "change", "reason"), [
    (from_push, PUSH, {"filled_size": 1.0}, "must be a string"),
    (from_push, PUSH, {"filled_size": "NaN"}, "not a plain"),
    (from_push, PUSH, {"filled_size": "1e3"}, "not a plain"),
    (from_push, PUSH, {"filled_size": "-1"}, "not a plain"),
    (from_push, PUSH, {"size": "9" * 40}, "not a plain"),
    (from_push, PUSH, {"filled_size": "2"}, "exceeds"),
    (from_push, PUSH, {"order_state": "exploded"}, "unknown order_state"),
    (from_push, PUSH, {"order_id": "12ab"}, "order_id is malformed"),
    (from_push, PUSH, {"order_id": ""}, "order_id is malformed"),
    (from_push, PUSH, {"symbol": "btc usdt"}, "symbol is malformed"),
    (from_push, PUSH, {"side": "hold"}, "side"),
    (from_push, PUSH, {"update_time": "99999999999999999999"}, "update_time"),
    (from_push, PUSH, {"update_time": "12"}, "out of range"),
    (from_v2, V2_ROW, {"status": 6}, "status"),
    (from_v2, V2_ROW, {"status": True}, "status"),
    (from_v2, V2_ROW, {"entrust_id": 1.5}, "entrust_id"),
    (from_v2, V2_ROW, {"price": 1.0}, "price must be a decimal string"),
    (from_v2, V2_ROW, {"status": 1}, "state new with a non-zero"),
    (from_v4, V4_ROW, {"state": "filled"}, "state filled but"),
    (from_v4, V4_ROW, {"type": "teleport"}, "unknown order type"),
    (from_v4, V4_ROW, {"createTime": None}, "createTime"),
    (from_v4, V4_ROW, {"clientOrderId": "a b"}, "client order id"),
])
def test_refusals_name_the_field(parser: Any, base: dict[str, Any], change: dict[str, Any],
                                 reason: str) -> None:
    with pytest.raises(Invalid, match=reason):
        parser(base | change)


@pytest.mark.parametrize("missing", ["order_id", "symbol", "side", "size", "filled_size",
                                     "price"])
def test_missing_push_fields(missing: str) -> None:
    with pytest.raises(Invalid, match=f"missing field '{missing}'"):
        from_push({k: v for k, v in PUSH.items() if k != missing})


@pytest.mark.parametrize("payload", [None, [], "order", 5])
def test_non_objects(payload: Any) -> None:
    for parser in (from_push, from_v2, from_v4):
        with pytest.raises(Invalid, match="JSON object"):
            parser(payload)


@pytest.mark.parametrize("amount", ["0.00000000", "0." + "0" * 30, "0.00000010", "100",
                                    "1" * 30 + "." + "1" * 30])
async def test_amounts_reach_the_book_and_its_readers_as_written(tmp_path: Path,
                                                                 amount: str) -> None:
    """A real book: the order row, the journal and `tracker orders` (readers) keep the
    exchange's text, and the 18-digit id, as TEXT."""
    order_id = "995232205536716288"
    row = dict(PUSH, order_id=order_id, order_state="new", state="4", price=amount,
               size=amount, filled_size="0.00000000", filled_notional=amount)
    update = from_push(row)
    db = tmp_path / "book.db"
    store = await Store.open(db)
    try:
        batch = Batch()
        seq = store.take_seq()
        batch.journal(seq, 1, "push", Outcome.APPLIED, update)
        batch.order(update, seq, False)
        await store.commit(batch)
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    try:
        stored = conn.execute("SELECT typeof(order_id), order_id, price, size, filled_size, "
                              "filled_notional FROM orders").fetchone()
        journaled = conn.execute("SELECT filled_size FROM order_events").fetchone()
    finally:
        conn.close()
    assert stored == ("text", order_id, amount, amount, "0.00000000", amount)
    assert journaled == ("0.00000000",)
    (shown,) = readers.open_orders(db)
    assert (shown["order_id"], shown["price"], shown["size"]) == (order_id, amount, amount)


def test_the_pair_list_gives_each_symbols_base_and_quote_and_leaves_bad_rows_out() -> None:
    data = {"symbols": [
        {"symbol": "BTC_USDT", "base_currency": "BTC", "quote_currency": "USDT", "x": 1},
        {"symbol": "BMX_ETH", "base_currency": "BMX", "quote_currency": "ETH"},
        {"symbol": "btc-usdt", "base_currency": "BTC", "quote_currency": "USDT"},
        {"symbol": "SOL_USDT", "base_currency": None, "quote_currency": "USDT"},
        {"symbol": "DOT_USDT"}, "DOT_USDT", None]}
    assert codec.listed_markets(data) == {"BTC_USDT": ("BTC", "USDT"),
                                          "BMX_ETH": ("BMX", "ETH")}
    for shape in (None, [], {"symbols": {}}, {"pairs": []}):
        assert codec.listed_markets(shape) is None, shape
    assert codec.listed_markets({"symbols": []}) == {}


def test_a_configured_symbol_splits_at_its_underscore() -> None:
    assert codec.split_symbols(["BTC_USDT", "BMX_ETH", "1000SATS_USDT", "BTCUSDT"]) == {
        "BTC_USDT": ("BTC", "USDT"), "BMX_ETH": ("BMX", "ETH"),
        "1000SATS_USDT": ("1000SATS", "USDT")}
