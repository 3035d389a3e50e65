"""The simulator's current REST face (protocol §2) over real sockets.

Every test talks HTTP to a freshly started simulator: signed v4 calls through `tests.simclient.V4`
(or hand-built requests where a test needs a broken one), scenarios and ground truth through
the unauthenticated /control API.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from simulator.app import Running
from simulator.state import DEMO_ACCOUNT, Settings
from tests.conftest import injected, place, set_faults
from tests.simclient import V4, now_ms
from tracker.venues.bitmart import signing
from tracker.venues.bitmart.protocol import (
    KEY_HEADER,
    RATE_LIMIT_LIMIT,
    RATE_LIMIT_RESET,
    RATE_LIMIT_USED,
    SIGN_HEADER,
    TIMESTAMP_HEADER,
    V4_KEY_EMPTY,
    V4_KEY_UNKNOWN,
    V4_ORDER_NOT_FOUND,
    V4_RATE_LIMITED,
    V4_SIGN_EMPTY,
    V4_SIGN_WRONG,
    V4_SUCCESS,
    V4_TIMESTAMP_MISSING,
    V4_TIMESTAMP_RANGE,
)

OPEN_ORDERS = "/spot/v4/query/open-orders"
ORDER = "/spot/v4/query/order"
TRADES = "/spot/v4/query/order-trades"
SUBMIT = "/spot/v2/submit_order"
CANCEL = "/spot/v3/cancel_order"

DAY_MS = 24 * 3600 * 1000
DECIMAL = re.compile(r"^\d+(\.\d+)?$")
ORDER_FIELDS = {
    "orderId", "clientOrderId", "symbol", "side", "orderMode", "type", "state",
    "cancelSource", "stpMode", "price", "priceAvg", "size", "filledSize", "notional",
    "filledNotional", "createTime", "updateTime",
}
AMOUNTS = ("price", "priceAvg", "size", "filledSize", "notional", "filledNotional")
TRADE_FIELDS = {
    "tradeId", "orderId", "clientOrderId", "symbol", "side", "orderMode", "type", "price",
    "size", "notional", "fee", "feeCoinName", "tradeRole", "createTime", "updateTime",
}


# -- helpers ---------------------------------------------------------------------------


def envelope(response: httpx.Response) -> dict[str, Any]:
    """The BitMart envelope, which every answer carries whatever its HTTP status."""
    body = response.json()
    assert set(body) == {"code", "message", "trace", "data"}, body
    assert isinstance(body["code"], int)
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["trace"], str) and body["trace"]
    return body


def ok(response: httpx.Response) -> Any:
    body = envelope(response)
    assert response.status_code == 200, response.text
    assert body["code"] == V4_SUCCESS and body["message"] == "success", body
    return body["data"]


def fails(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    body = envelope(response)
    assert (response.status_code, body["code"]) == (status, code), response.text
    assert body["data"] == {}
    return body


def signed_headers(raw: str, *, stamp: str | None = None,
                   secret: str = DEMO_ACCOUNT.secret) -> dict[str, str]:
    stamp = str(now_ms()) if stamp is None else stamp
    return {
        KEY_HEADER: DEMO_ACCOUNT.api_key,
        TIMESTAMP_HEADER: stamp,
        SIGN_HEADER: signing.v4_sign(secret, DEMO_ACCOUNT.memo, stamp, raw),
        "Content-Type": "application/json",
    }


async def send(v4: V4, path: str, content: str | bytes,
               headers: dict[str, str]) -> httpx.Response:
    """A hand-built request, for the cases V4.post cannot produce."""
    return await v4.http.post(path, content=content, headers=headers)


async def truth(control: httpx.AsyncClient, **query: str) -> dict[str, dict[str, Any]]:
    response = await control.get("/truth", params=query)
    assert response.status_code == 200, response.text
    return {row["orderId"]: row for row in response.json()["orders"]}


async def fill(control: httpx.AsyncClient, order_id: str, size: str | None = None) -> None:
    response = await control.post(f"/orders/{order_id}/fill",
                                  json={} if size is None else {"size": size})
    assert response.status_code == 200, response.text


async def cancel(control: httpx.AsyncClient, order_id: str) -> None:
    response = await control.post(f"/orders/{order_id}/cancel", json={})
    assert response.status_code == 200, response.text



async def open_ids(v4: V4, **body: Any) -> list[str]:
    return [row["orderId"] for row in ok(await v4.post(OPEN_ORDERS, body))]


def assert_v4_order(row: dict[str, Any]) -> None:
    assert set(row) == ORDER_FIELDS, row
    assert isinstance(row["orderId"], str) and row["orderId"].isdigit()
    for name in AMOUNTS:
        assert isinstance(row[name], str) and DECIMAL.match(row[name]), (name, row)
    for name in ("createTime", "updateTime"):
        assert type(row[name]) is int, (name, row)
    assert row["updateTime"] >= row["createTime"]


async def wait_for_fresh_window(running: Running, window_ms: int = 2000) -> None:
    """Sleep until just after the start of the next fixed rate-limit window (server time)."""
    now = running.sim.now_ms()
    await asyncio.sleep((window_ms - now % window_ms + 30) / 1000)


# -- envelope and time ------------------------------------------------------------------


async def test_system_time_in_envelope(v4: V4) -> None:
    before = now_ms()
    data = ok(await v4.http.get("/system/time"))
    assert set(data) == {"server_time"}
    assert type(data["server_time"]) is int
    assert before - 5 <= data["server_time"] <= now_ms() + 5


async def test_success_envelope_and_distinct_traces(v4: V4) -> None:
    a = envelope(await v4.post(OPEN_ORDERS, {}))
    b = envelope(await v4.post(OPEN_ORDERS, {}))
    assert a["code"] == b["code"] == V4_SUCCESS
    assert a["data"] == b["data"] == []
    assert a["trace"] != b["trace"]


# -- authentication -----------------------------------------------------------------------


async def test_missing_key_is_30001(v4: V4) -> None:
    headers = signed_headers("{}")
    del headers[KEY_HEADER]
    body = fails(await send(v4, OPEN_ORDERS, "{}", headers), 401, V4_KEY_EMPTY)
    assert KEY_HEADER in body["message"]


async def test_unknown_key_is_30002(v4: V4) -> None:
    headers = signed_headers("{}") | {KEY_HEADER: "0" * 32}
    fails(await send(v4, OPEN_ORDERS, "{}", headers), 401, V4_KEY_UNKNOWN)


async def test_missing_sign_is_30004(v4: V4) -> None:
    headers = signed_headers("{}")
    del headers[SIGN_HEADER]
    fails(await send(v4, OPEN_ORDERS, "{}", headers), 401, V4_SIGN_EMPTY)


async def test_wrong_secret_is_30005(v4: V4) -> None:
    fails(await v4.post(OPEN_ORDERS, {}, secret="f" * 32), 401, V4_SIGN_WRONG)


async def test_body_altered_after_signing_is_30005(v4: V4) -> None:
    signed_body = json.dumps({"symbol": "BTC_USDT"})
    headers = signed_headers(signed_body)
    # Same JSON value, different bytes: the signature covers the exact body.
    fails(await send(v4, OPEN_ORDERS, json.dumps({"symbol": "BTC_USDT"}, indent=1), headers),
          401, V4_SIGN_WRONG)
    fails(await send(v4, OPEN_ORDERS, json.dumps({"symbol": "ETH_USDT"}), headers),
          401, V4_SIGN_WRONG)
    # A signature made for another timestamp does not fit either.
    moved = headers | {TIMESTAMP_HEADER: str(int(headers[TIMESTAMP_HEADER]) - 1)}
    fails(await send(v4, OPEN_ORDERS, signed_body, moved), 401, V4_SIGN_WRONG)
    ok(await send(v4, OPEN_ORDERS, signed_body, headers))


@pytest.mark.parametrize("stamp", [None, "", "abc", "12.5", "-1000", "+1", "1 2", "\u00b2",
                                   "\u0661\u0662\u0663", "1" * 5000])
async def test_missing_or_non_numeric_timestamp_is_30006(v4: V4, stamp: str | None) -> None:
    headers = signed_headers("{}", stamp=stamp or "0")
    if stamp is None:
        del headers[TIMESTAMP_HEADER]
    else:
        headers[TIMESTAMP_HEADER] = stamp
    raw_headers = {k: v.encode() for k, v in headers.items()}
    response = await v4.http.post(OPEN_ORDERS, content="{}", headers=raw_headers)
    fails(response, 401, V4_TIMESTAMP_MISSING)


async def test_timestamp_window_default_recv_window(v4: V4) -> None:
    fails(await v4.post(OPEN_ORDERS, {}, timestamp=now_ms() - 6000), 401, V4_TIMESTAMP_RANGE)
    fails(await v4.post(OPEN_ORDERS, {}, timestamp=now_ms() - 60_000), 401, V4_TIMESTAMP_RANGE)
    ok(await v4.post(OPEN_ORDERS, {}, timestamp=now_ms() - 3000))
    # Future stamps: accepted up to (not including) server time + 1000.
    ok(await v4.post(OPEN_ORDERS, {}, timestamp=now_ms() + 500))
    fails(await v4.post(OPEN_ORDERS, {}, timestamp=now_ms() + 1500), 401, V4_TIMESTAMP_RANGE)
    fails(await v4.post(OPEN_ORDERS, {}, timestamp=now_ms() + 3_600_000), 401, V4_TIMESTAMP_RANGE)


async def test_recv_window_widens_and_narrows_the_window(v4: V4) -> None:
    ok(await v4.post(OPEN_ORDERS, {"recvWindow": 10_000}, timestamp=now_ms() - 6000))
    ok(await v4.post(OPEN_ORDERS, {"recvWindow": 60_000}, timestamp=now_ms() - 50_000))
    fails(await v4.post(OPEN_ORDERS, {"recvWindow": 60_000}, timestamp=now_ms() - 61_000),
          401, V4_TIMESTAMP_RANGE)
    fails(await v4.post(OPEN_ORDERS, {"recvWindow": 1000}, timestamp=now_ms() - 2000),
          401, V4_TIMESTAMP_RANGE)
    # recvWindow does not widen the future side.
    fails(await v4.post(OPEN_ORDERS, {"recvWindow": 60_000}, timestamp=now_ms() + 2000),
          401, V4_TIMESTAMP_RANGE)
    # A Long sent as a JSON string is read like the other Long fields.
    ok(await v4.post(OPEN_ORDERS, {"recvWindow": "10000"}, timestamp=now_ms() - 6000))


@pytest.mark.parametrize("window", [0, -1, 60_001, 10**30, 1.5, True, None, "abc", "\u00b2"])
async def test_recv_window_out_of_range_is_30007(v4: V4, window: Any) -> None:
    fails(await v4.post(OPEN_ORDERS, {"recvWindow": window}), 401, V4_TIMESTAMP_RANGE)


@pytest.mark.parametrize("content", [b"[1]", b"not json", b'{"a": "\xff"}', b"[" * 100_000,
                                     b'{"limit": 1' + b"0" * 5000 + b"}"])
async def test_body_that_is_not_a_json_object_keeps_the_envelope(v4: V4, content: bytes) -> None:
    headers = signed_headers(content.decode("latin-1"))
    response = await send(v4, OPEN_ORDERS, content, headers)
    assert response.status_code != 500, response.text
    assert envelope(response)["code"] != 1000


async def test_signature_covers_exact_bytes_whatever_the_declared_charset(v4: V4) -> None:
    raw = json.dumps({"symbol": "BTC_USDT", "note": "caf\u00e9"}, ensure_ascii=False)
    headers = signed_headers(raw) | {"Content-Type": "application/json; charset=latin-1"}
    ok(await send(v4, OPEN_ORDERS, raw.encode(), headers))


async def test_empty_body_is_signed_as_empty(v4: V4) -> None:
    ok(await send(v4, OPEN_ORDERS, b"", signed_headers("")))
    fails(await send(v4, OPEN_ORDERS, b"", signed_headers("{}")), 401, V4_SIGN_WRONG)


# -- query/open-orders -------------------------------------------------------------------


async def test_open_orders_lists_only_new_and_partially_filled(
        v4: V4, control: httpx.AsyncClient) -> None:
    new = await place(control)
    partial = await place(control, side="sell", price="61000")
    await fill(control, partial["orderId"], "0.04")
    filled = await place(control)
    await fill(control, filled["orderId"])
    canceled = await place(control)
    await cancel(control, canceled["orderId"])
    partly_canceled = await place(control)
    await fill(control, partly_canceled["orderId"], "0.01")
    await cancel(control, partly_canceled["orderId"])
    await place(control, type="market", side="buy", notional="100")
    await place(control, type="market", side="sell", size="0.01")

    rows = ok(await v4.post(OPEN_ORDERS, {}))
    assert {r["orderId"]: r["state"] for r in rows} == {
        new["orderId"]: "new", partial["orderId"]: "partially_filled"}
    by_id = {r["orderId"]: r for r in rows}
    for row in rows:
        assert_v4_order(row)
        # No client id was given: REST echoes the order id.
        assert row["clientOrderId"] == row["orderId"]
    p = by_id[partial["orderId"]]
    assert (p["side"], p["type"], p["orderMode"]) == ("sell", "limit", "spot")
    assert Decimal(p["filledSize"]) == Decimal("0.04")
    assert Decimal(p["size"]) == Decimal("0.1")
    assert Decimal(p["price"]) == Decimal("61000")
    assert Decimal(p["priceAvg"]) == Decimal("61000")
    assert Decimal(p["filledNotional"]) == Decimal("2440")
    assert Decimal(by_id[new["orderId"]]["filledSize"]) == 0
    # Newest first; the truth agrees with every row.
    assert [r["createTime"] for r in rows] == sorted((r["createTime"] for r in rows),
                                                     reverse=True)
    opened = await truth(control, open="1")
    assert set(opened) == set(by_id)
    for order_id, row in by_id.items():
        assert {k: v for k, v in opened[order_id].items() if k in ORDER_FIELDS} == row


async def test_open_orders_symbol_filter_and_unknown_symbol(
        v4: V4, control: httpx.AsyncClient) -> None:
    btc = await place(control)
    eth = await place(control, symbol="ETH_USDT", price="2900", size="1")
    bmx = await place(control, symbol="BMX_ETH", price="0.000110", size="1000")
    assert set(await open_ids(v4, symbol="BTC_USDT")) == {btc["orderId"]}
    assert set(await open_ids(v4, symbol="ETH_USDT")) == {eth["orderId"]}
    assert set(await open_ids(v4)) == {btc["orderId"], eth["orderId"], bmx["orderId"]}
    assert set(await open_ids(v4, symbol="BTC_USDT", orderMode="spot")) == {btc["orderId"]}
    assert await open_ids(v4, orderMode="iso_margin") == []
    fails(await v4.post(OPEN_ORDERS, {"symbol": "FOO_BAR"}), 400, 50001)
    fails(await v4.post(OPEN_ORDERS, {"symbol": "btc_usdt"}), 400, 50001)
    fails(await v4.post(OPEN_ORDERS, {"symbol": ["BTC_USDT"]}), 400, 50001)


async def test_open_orders_limit(v4: V4, control: httpx.AsyncClient) -> None:
    response = await control.post("/populate", json={"per_symbol": 70})
    assert response.json()["open"] == 210
    rows = ok(await v4.post(OPEN_ORDERS, {}))
    assert len(rows) == 200
    newest = ok(await v4.post(OPEN_ORDERS, {"limit": 5}))
    assert [r["orderId"] for r in newest] == [r["orderId"] for r in rows[:5]]
    assert len(ok(await v4.post(OPEN_ORDERS, {"limit": 200}))) == 200
    assert len(ok(await v4.post(OPEN_ORDERS, {"limit": 1}))) == 1
    for bad in (0, 201, -1, 10**30, 2.5, True):
        fails(await v4.post(OPEN_ORDERS, {"limit": bad}), 400, 50021)


async def test_open_orders_seven_day_default_window(v4: V4, control: httpx.AsyncClient,
                                                    sim: Running) -> None:
    old = await place(control)
    # Move the server clock eight days on: the order is now eight days old.
    skew = 8 * DAY_MS
    await set_faults(control, clock_skew_ms=skew)
    fresh = await place(control, price="49000")

    async def ids(**body: Any) -> list[str]:
        return [r["orderId"] for r in ok(await v4.post(OPEN_ORDERS, body,
                                                        timestamp=now_ms() + skew))]

    assert await ids() == [fresh["orderId"]]
    assert await ids(symbol="BTC_USDT") == [fresh["orderId"]]
    server_now = sim.sim.now_ms()
    assert await ids(startTime=server_now - 9 * DAY_MS) == [fresh["orderId"], old["orderId"]]
    assert await ids(startTime=str(old["createTime"])) == [fresh["orderId"], old["orderId"]]
    # endTime alone lifts the default window too.
    assert await ids(endTime=server_now + 1000) == [fresh["orderId"], old["orderId"]]
    assert await ids(startTime=0, endTime=old["createTime"]) == [old["orderId"]]
    assert await ids(startTime=old["createTime"] + 1) == [fresh["orderId"]]
    # The client's own clock must follow the server's: an unskewed stamp is stale.
    fails(await v4.post(OPEN_ORDERS, {}), 401, V4_TIMESTAMP_RANGE)


async def test_open_orders_time_window_errors(v4: V4) -> None:
    now = now_ms()
    fails(await v4.post(OPEN_ORDERS, {"startTime": now, "endTime": now}), 400, 52004)
    fails(await v4.post(OPEN_ORDERS, {"startTime": now, "endTime": now - 1}), 400, 52004)
    for bad in ("\u00b2", "abc", -5, 1.5):
        fails(await v4.post(OPEN_ORDERS, {"startTime": bad}), 400, 50021)
        fails(await v4.post(OPEN_ORDERS, {"endTime": bad}), 400, 50021)
    assert ok(await v4.post(OPEN_ORDERS, {"startTime": now - 1, "endTime": now})) == []


async def test_time_window_paging_returns_every_open_order_once(
        v4: V4, control: httpx.AsyncClient) -> None:
    # 450 open orders, made in small batches so that no millisecond holds a whole page.
    for _ in range(15):
        response = await control.post("/populate", json={"per_symbol": 10})
        assert response.status_code == 200
        await asyncio.sleep(0.002)
    expected = await truth(control, open="1")
    assert len(expected) == 450

    seen: dict[str, dict[str, Any]] = {}
    body: dict[str, Any] = {"startTime": 0, "limit": 200}
    pages = 0
    while True:
        page = ok(await v4.post(OPEN_ORDERS, body))
        pages += 1
        assert 0 < len(page) <= 200
        times = [r["createTime"] for r in page]
        assert times == sorted(times, reverse=True)
        if "endTime" in body:
            assert max(times) <= body["endTime"]
            # Only the boundary millisecond may be read again.
            for row in page:
                if row["orderId"] in seen:
                    assert row["createTime"] == body["endTime"]
                    assert seen[row["orderId"]] == row
        new = {r["orderId"]: r for r in page if r["orderId"] not in seen}
        assert new or len(page) < 200, "paging made no progress"
        seen.update(new)
        if len(page) < 200:
            break
        body["endTime"] = times[-1]  # inclusive: the boundary millisecond is read again
        assert pages < 10
    assert pages >= 3
    assert set(seen) == set(expected)
    for order_id, row in seen.items():
        assert_v4_order(row)
        assert row["clientOrderId"] == order_id
        assert {k: v for k, v in expected[order_id].items() if k in ORDER_FIELDS} == row


# -- query/order -------------------------------------------------------------------------


async def test_query_order_states_and_query_state(v4: V4, control: httpx.AsyncClient) -> None:
    new = await place(control)
    partial = await place(control)
    await fill(control, partial["orderId"], "0.05")
    done = await place(control)
    await fill(control, done["orderId"])
    gone = await place(control)
    await cancel(control, gone["orderId"])
    cases = {new["orderId"]: ("new", True), partial["orderId"]: ("partially_filled", True),
             done["orderId"]: ("filled", False), gone["orderId"]: ("canceled", False)}
    facts = await truth(control)
    for order_id, (state, is_open) in cases.items():
        row = ok(await v4.post(ORDER, {"orderId": order_id}))
        assert_v4_order(row)
        assert row["state"] == state
        assert {k: v for k, v in facts[order_id].items() if k in ORDER_FIELDS} == row
        wanted, other = ("open", "history") if is_open else ("history", "open")
        assert ok(await v4.post(ORDER, {"orderId": order_id, "queryState": wanted})) == row
        fails(await v4.post(ORDER, {"orderId": order_id, "queryState": other}),
              400, V4_ORDER_NOT_FOUND)
    gone_row = ok(await v4.post(ORDER, {"orderId": gone["orderId"]}))
    assert gone_row["cancelSource"] == "user"
    assert ok(await v4.post(ORDER, {"orderId": new["orderId"]}))["cancelSource"] == ""


async def test_query_order_errors(v4: V4, control: httpx.AsyncClient) -> None:
    order = await place(control)
    for bad in ("closed", "OPEN", "", 1):
        fails(await v4.post(ORDER, {"orderId": order["orderId"], "queryState": bad}),
              400, 52003)
    fails(await v4.post(ORDER, {"orderId": "999999999999999999"}), 400, V4_ORDER_NOT_FOUND)
    fails(await v4.post(ORDER, {"orderId": "999999999999999999", "queryState": "open"}),
          400, V4_ORDER_NOT_FOUND)
    response = await v4.post(ORDER, {})
    assert response.status_code == 400
    assert envelope(response)["code"] not in (V4_SUCCESS, V4_ORDER_NOT_FOUND)


@pytest.mark.parametrize("settings", [Settings(port=0, cancel_retention_s=0.2)])
async def test_unfilled_cancel_is_forgotten_after_retention(
        v4: V4, control: httpx.AsyncClient) -> None:
    unfilled = await place(control)
    partial = await place(control)
    await fill(control, partial["orderId"], "0.02")
    await cancel(control, unfilled["orderId"])
    await cancel(control, partial["orderId"])
    assert ok(await v4.post(ORDER, {"orderId": unfilled["orderId"]}))["state"] == "canceled"
    await asyncio.sleep(0.3)
    fails(await v4.post(ORDER, {"orderId": unfilled["orderId"]}), 400, V4_ORDER_NOT_FOUND)
    fails(await v4.post(ORDER, {"orderId": unfilled["orderId"], "queryState": "history"}),
          400, V4_ORDER_NOT_FOUND)
    kept = ok(await v4.post(ORDER, {"orderId": partial["orderId"], "queryState": "history"}))
    assert kept["state"] == "partially_canceled"
    assert Decimal(kept["filledSize"]) == Decimal("0.02")
    # The ground truth still knows both.
    facts = await truth(control)
    assert facts[unfilled["orderId"]]["state"] == "canceled"


async def test_rest_lag_hides_a_just_changed_order(v4: V4, control: httpx.AsyncClient) -> None:
    await set_faults(control, rest_lag_ms=300)
    order = await place(control)
    fails(await v4.post(ORDER, {"orderId": order["orderId"]}), 400, V4_ORDER_NOT_FOUND)
    # The list is not lagged.
    assert await open_ids(v4) == [order["orderId"]]
    await asyncio.sleep(0.35)
    assert ok(await v4.post(ORDER, {"orderId": order["orderId"]}))["state"] == "new"
    await fill(control, order["orderId"], "0.03")
    fails(await v4.post(ORDER, {"orderId": order["orderId"]}), 400, V4_ORDER_NOT_FOUND)
    await asyncio.sleep(0.35)
    row = ok(await v4.post(ORDER, {"orderId": order["orderId"]}))
    assert row["state"] == "partially_filled"
    assert (await injected(control))["rest_lag"] == 2
    await set_faults(control, rest_lag_ms=0)
    await cancel(control, order["orderId"])
    assert ok(await v4.post(ORDER, {"orderId": order["orderId"]}))["state"] == (
        "partially_canceled")


# -- query/order-trades -------------------------------------------------------------------


async def test_order_trades_lists_fills(v4: V4, control: httpx.AsyncClient) -> None:
    order = await place(control, client_order_id="mine42")
    assert ok(await v4.post(TRADES, {"orderId": order["orderId"]})) == []
    await fill(control, order["orderId"], "0.03")
    await fill(control, order["orderId"])
    trades = ok(await v4.post(TRADES, {"orderId": order["orderId"]}))
    assert len(trades) == 2
    for trade in trades:
        assert set(trade) == TRADE_FIELDS, trade
        assert isinstance(trade["tradeId"], str) and trade["tradeId"]
        assert (trade["orderId"], trade["clientOrderId"]) == (order["orderId"], "mine42")
        assert (trade["symbol"], trade["side"], trade["tradeRole"]) == (
            "BTC_USDT", "buy", "maker")
        for name in ("price", "size", "notional", "fee"):
            assert DECIMAL.match(trade[name]), (name, trade)
        assert type(trade["createTime"]) is int
        assert Decimal(trade["price"]) == Decimal("50000")
        assert Decimal(trade["fee"]) == Decimal(trade["notional"]) * Decimal("0.001")
        assert trade["feeCoinName"] == "USDT"
    assert len({t["tradeId"] for t in trades}) == 2
    # Newest first.
    assert [Decimal(t["size"]) for t in trades] == [Decimal("0.07"), Decimal("0.03")]
    row = ok(await v4.post(ORDER, {"orderId": order["orderId"]}))
    assert row["state"] == "filled"
    assert row["clientOrderId"] == "mine42"
    assert sum(Decimal(t["size"]) for t in trades) == Decimal(row["filledSize"])
    assert sum(Decimal(t["notional"]) for t in trades) == Decimal(row["filledNotional"])
    facts = await truth(control)
    assert Decimal(facts[order["orderId"]]["fees"]) == sum(Decimal(t["fee"]) for t in trades)

    market = await place(control, type="market", side="sell", size="0.01")
    [taker] = ok(await v4.post(TRADES, {"orderId": market["orderId"]}))
    assert taker["tradeRole"] == "taker"
    assert taker["clientOrderId"] == market["orderId"]
    fails(await v4.post(TRADES, {"orderId": "999999999999999999"}), 400, V4_ORDER_NOT_FOUND)


async def test_order_trades_under_rest_lag_hides_only_the_fresh_fill(
        v4: V4, control: httpx.AsyncClient) -> None:
    await set_faults(control, rest_lag_ms=300)
    order = await place(control)
    # A just-created order is not known to REST yet.
    fails(await v4.post(TRADES, {"orderId": order["orderId"]}), 400, V4_ORDER_NOT_FOUND)
    await fill(control, order["orderId"], "0.04")
    await asyncio.sleep(0.35)
    [first] = ok(await v4.post(TRADES, {"orderId": order["orderId"]}))
    await fill(control, order["orderId"], "0.01")
    # The order is known; only the fresh fill is missing (50005 would say "no such order").
    listed = ok(await v4.post(TRADES, {"orderId": order["orderId"]}))
    assert listed == [first]
    assert Decimal(first["size"]) == Decimal("0.04")
    await asyncio.sleep(0.35)
    listed = ok(await v4.post(TRADES, {"orderId": order["orderId"]}))
    assert [Decimal(t["size"]) for t in listed] == [Decimal("0.01"), Decimal("0.04")]
    assert listed[1] == first
    assert (await injected(control)).get("rest_lag", 0) >= 2


# -- submit and cancel --------------------------------------------------------------------


async def test_submit_limit_then_cancel(v4: V4, control: httpx.AsyncClient) -> None:
    data = ok(await v4.post(SUBMIT, {"symbol": "BTC_USDT", "side": "buy", "type": "limit",
                                     "size": "0.25", "price": "55000"}))
    order_id = data["order_id"]
    assert isinstance(order_id, str) and order_id.isdigit()
    row = ok(await v4.post(ORDER, {"orderId": order_id, "queryState": "open"}))
    assert (row["state"], row["type"], row["side"]) == ("new", "limit", "buy")
    assert (Decimal(row["size"]), Decimal(row["price"])) == (Decimal("0.25"), Decimal("55000"))
    assert Decimal(row["notional"]) == Decimal("13750")
    assert row["clientOrderId"] == order_id
    assert await open_ids(v4) == [order_id]

    assert ok(await v4.post(CANCEL, {"symbol": "BTC_USDT", "order_id": order_id})) == {
        "result": True}
    row = ok(await v4.post(ORDER, {"orderId": order_id}))
    assert (row["state"], row["cancelSource"]) == ("canceled", "user")
    assert await open_ids(v4) == []
    assert ok(await v4.post(CANCEL, {"symbol": "BTC_USDT", "order_id": order_id})) == {
        "result": False}
    # Wrong symbol, unknown id, neither id.
    other = ok(await v4.post(SUBMIT, {"symbol": "BTC_USDT", "side": "sell", "size": "0.1",
                                      "price": "70000"}))["order_id"]
    fails(await v4.post(CANCEL, {"symbol": "ETH_USDT", "order_id": other}), 400, V4_ORDER_NOT_FOUND)
    fails(await v4.post(CANCEL, {"symbol": "BTC_USDT", "order_id": "1"}), 400, V4_ORDER_NOT_FOUND)
    fails(await v4.post(CANCEL, {"symbol": "BTC_USDT"}), 400, 50039)
    fails(await v4.post(CANCEL, {"symbol": "NOPE_USDT", "order_id": other}), 400, 50001)
    assert (await truth(control))[other]["state"] == "new"


async def test_submit_with_client_order_id_and_duplicates(v4: V4) -> None:
    body = {"symbol": "ETH_USDT", "side": "sell", "type": "limit", "size": "1",
            "price": "3100", "client_order_id": "abc123"}
    order_id = ok(await v4.post(SUBMIT, body))["order_id"]
    assert ok(await v4.post(ORDER, {"orderId": order_id}))["clientOrderId"] == "abc123"
    fails(await v4.post(SUBMIT, body), 400, 50042)
    fails(await v4.post(SUBMIT, body | {"client_order_id": "bad-id!"}), 400, 50038)
    fails(await v4.post(SUBMIT, body | {"client_order_id": "x" * 33}), 400, 50038)
    # Cancel by client id.
    assert ok(await v4.post(CANCEL, {"symbol": "ETH_USDT", "client_order_id": "abc123"})) == {
        "result": True}
    # Still a duplicate after the cancel.
    fails(await v4.post(SUBMIT, body), 400, 50042)
    assert await open_ids(v4) == []


async def test_submit_rejects_bad_orders(v4: V4, control: httpx.AsyncClient) -> None:
    base = {"symbol": "BTC_USDT", "side": "buy", "type": "limit", "size": "0.1",
            "price": "50000"}
    fails(await v4.post(SUBMIT, base | {"symbol": "FOO_BAR"}), 400, 50001)
    for change in ({"side": "hold"}, {"type": "stop"}, {"price": "0"}, {"size": "-1"},
                   {"price": "NaN"}, {"price": "abc"}, {"price": None},
                   {"price": "1e999999999"}, {"price": "1e30"}, {"size": "1e-999999"}):
        fails(await v4.post(SUBMIT, base | change), 400, 50021)
    market = base | {"type": "market"}
    fails(await v4.post(SUBMIT, market), 400, 50021)  # a market buy needs a notional
    fails(await v4.post(SUBMIT, market | {"notional": "1e30"}), 400, 50021)
    # Below one lot (BTC sizes have 5 places): not a "filled" order with nothing filled.
    fails(await v4.post(SUBMIT, market | {"side": "sell", "size": "0.000001"}), 400, 50021)
    # Nothing was created by any of these, not even half way.
    assert await truth(control) == {}


async def test_market_orders_end_states(v4: V4) -> None:
    buy = ok(await v4.post(SUBMIT, {"symbol": "BTC_USDT", "side": "buy", "type": "market",
                                    "notional": "100"}))["order_id"]
    row = ok(await v4.post(ORDER, {"orderId": buy, "queryState": "history"}))
    assert (row["state"], row["type"], row["side"]) == ("partially_canceled", "market", "buy")
    assert Decimal(row["filledSize"]) > 0
    assert Decimal(row["size"]) == 0 and Decimal(row["price"]) == 0
    assert Decimal(row["notional"]) == Decimal("100")
    assert 0 < Decimal(row["filledNotional"]) <= Decimal("100")
    [trade] = ok(await v4.post(TRADES, {"orderId": buy}))
    assert trade["tradeRole"] == "taker"

    sell = ok(await v4.post(SUBMIT, {"symbol": "ETH_USDT", "side": "sell", "type": "market",
                                     "size": "0.5"}))["order_id"]
    row = ok(await v4.post(ORDER, {"orderId": sell}))
    assert (row["state"], row["type"]) == ("filled", "market")
    assert Decimal(row["filledSize"]) == Decimal(row["size"]) == Decimal("0.5")
    assert ok(await v4.post(CANCEL, {"symbol": "ETH_USDT", "order_id": sell})) == {
        "result": False}
    assert await open_ids(v4) == []


async def test_truth_agrees_with_query_order(v4: V4, control: httpx.AsyncClient) -> None:
    ids = [ok(await v4.post(SUBMIT, body))["order_id"] for body in (
        {"symbol": "BTC_USDT", "side": "buy", "size": "0.2", "price": "58000"},
        {"symbol": "BTC_USDT", "side": "sell", "size": "0.2", "price": "62000",
         "client_order_id": "s1"},
        {"symbol": "ETH_USDT", "side": "buy", "type": "market", "notional": "50"},
        {"symbol": "BMX_ETH", "side": "sell", "type": "market", "size": "1000"},
    )]
    await fill(control, ids[0], "0.05")
    ok(await v4.post(CANCEL, {"symbol": "BTC_USDT", "order_id": ids[1]}))
    facts = await truth(control)
    assert set(facts) == set(ids)
    for order_id in ids:
        row = ok(await v4.post(ORDER, {"orderId": order_id}))
        assert {k: v for k, v in facts[order_id].items() if k in ORDER_FIELDS} == row
    assert [facts[i]["state"] for i in ids] == [
        "partially_filled", "canceled", "partially_canceled", "filled"]


# -- rate limits ----------------------------------------------------------------------------


async def test_rate_limit_headers_count_used_calls_and_13th_is_429(
        v4: V4, sim: Running) -> None:
    await wait_for_fresh_window(sim)
    started = time.monotonic()
    for used in range(1, 13):
        response = await v4.post(OPEN_ORDERS, {})
        ok(response)
        assert response.headers[RATE_LIMIT_USED] == str(used)
        assert response.headers[RATE_LIMIT_LIMIT] == "12"
        assert response.headers[RATE_LIMIT_RESET] == "2"
    response = await v4.post(OPEN_ORDERS, {})
    fails(response, 429, V4_RATE_LIMITED)
    assert response.headers[RATE_LIMIT_USED] == "12"
    assert response.headers[RATE_LIMIT_LIMIT] == "12"
    # Buckets are per endpoint: order detail has its own 50 per 2 s.
    response = await v4.post(ORDER, {"orderId": "1"})
    fails(response, 400, V4_ORDER_NOT_FOUND)
    assert response.headers[RATE_LIMIT_USED] == "1"
    assert response.headers[RATE_LIMIT_LIMIT] == "50"
    # order-trades has a 12 per 2 s bucket of its own.
    for used in range(1, 13):
        response = await v4.post(TRADES, {"orderId": "1"})
        fails(response, 400, V4_ORDER_NOT_FOUND)
        assert response.headers[RATE_LIMIT_USED] == str(used)
        assert response.headers[RATE_LIMIT_LIMIT] == "12"
    fails(await v4.post(TRADES, {"orderId": "1"}), 429, V4_RATE_LIMITED)
    fails(await v4.post(OPEN_ORDERS, {}), 429, V4_RATE_LIMITED)
    assert time.monotonic() - started < 1.5, "too slow to stay inside one window"
    # The next window starts from zero.
    await wait_for_fresh_window(sim)
    response = await v4.post(OPEN_ORDERS, {})
    ok(response)
    assert response.headers[RATE_LIMIT_USED] == "1"


# -- REST faults ----------------------------------------------------------------------------


async def test_rest_faults_on_v4_and_never_on_control(
        v4: V4, control: httpx.AsyncClient) -> None:
    order = await place(control)
    await set_faults(control, rest_5xx=1.0)
    body = fails(await v4.post(OPEN_ORDERS, {}), 500, 59002)
    assert body["message"]
    fails(await v4.post(ORDER, {"orderId": order["orderId"]}), 500, 59002)
    fails(await v4.http.get("/system/time"), 500, 59002)
    assert order["orderId"] in await truth(control)  # /control is untouched
    await place(control)
    await set_faults(control, rest_5xx=0.0, rest_429=1.0)
    fails(await v4.post(OPEN_ORDERS, {}), 429, V4_RATE_LIMITED)
    fails(await v4.post(SUBMIT, {"symbol": "BTC_USDT", "side": "buy", "size": "1",
                                 "price": "1"}), 429, V4_RATE_LIMITED)
    assert len(await truth(control)) == 2  # the refused submit placed nothing
    await set_faults(control, rest_429=0.0, rest_slow_ms=250)
    started = time.monotonic()
    assert len(ok(await v4.post(OPEN_ORDERS, {}))) == 2
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    await truth(control)
    assert time.monotonic() - started < 0.2
    await set_faults(control, rest_slow_ms=0)
    counts = await injected(control)
    assert counts == {"rest_5xx": 3, "rest_429": 2, "rest_slow": 1}
    # Faults off again: the face answers normally.
    ok(await v4.post(OPEN_ORDERS, {}))
    assert await injected(control) == counts


async def test_page_shift_changes_the_open_set_after_each_read(
        v4: V4, control: httpx.AsyncClient) -> None:
    response = await control.post("/populate", json={"per_symbol": 4})
    assert response.json()["open"] == 12
    before = set(await truth(control, open="1"))
    await set_faults(control, page_shift=3)
    assert set(await open_ids(v4)) == before  # the page itself is the state when it was read
    after = await truth(control, open="1")
    closed, opened = before - set(after), set(after) - before
    assert len(closed) == len(opened) == 3
    assert len(after) == 12
    everything = await truth(control)
    assert {everything[i]["state"] for i in closed} <= {"filled", "canceled"}
    assert {everything[i]["state"] for i in opened} == {"new"}
    # The next read sees the shifted set, and shifts it again.
    assert set(await open_ids(v4)) == set(after)
    assert len(set(after) - set(await truth(control, open="1"))) == 3
    assert (await injected(control))["page_shift"] == 2
    # Other queries do not shift.
    ok(await v4.post(ORDER, {"orderId": next(iter(opened))}))
    assert (await injected(control))["page_shift"] == 2
