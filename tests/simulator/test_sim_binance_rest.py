"""Binance's REST face over real sockets: the shapes of its answers, its three key types,
its timing and signature checks, request weight (429, then 418), orders placed, canceled,
replaced and amended, and the REST faults reaching it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from simulator.app import Running
from simulator.state import Settings
from simulator.store import SymbolSpec
from tests.conftest import injected, place, set_faults
from tests.simulator import shared
from tests.simulator.binance_client import Keys, Rest, now_ms, ok, refused
from tests.simulator.shared import with_settings
from tracker.venues.binance import protocol, signing

KEYS = Keys()
UTF8 = SymbolSpec("测试币_USDT", Decimal("2.00"), 2, 2)


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    """Three accounts, one per key type (HMAC first: the control API's default)."""
    symbols = (*Settings().symbols, UTF8)
    return shared.settings(request, symbols=symbols, accounts=KEYS.accounts)


@pytest.fixture
async def bn(sim: Running) -> AsyncIterator[Rest]:
    client = Rest(sim, KEYS.api_key("hmac"), KEYS.signer("hmac"))
    yield client
    await client.aclose()


async def truth(control: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    rows = (await control.get("/truth")).json()["orders"]
    return next(r for r in rows if r["orderId"] == order_id)


async def test_open_orders_are_one_array_of_binance_rows(bn: Rest,
                                                         control: httpx.AsyncClient) -> None:
    placed = await place(control, price="50000", size="0.1", client_order_id="mine1")
    await place(control, symbol="ETH_USDT", price="3000", size="1")
    response = await bn.get(protocol.OPEN_ORDERS, symbol="BTCUSDT")
    rows = ok(response)
    assert response.headers[protocol.USED_WEIGHT_HEADER] == "6"
    assert rows == [{
        "symbol": "BTCUSDT", "orderId": int(placed["orderId"]), "orderListId": -1,
        "clientOrderId": "mine1", "price": "50000.00000000", "origQty": "0.10000000",
        "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000", "status": "NEW",
        "timeInForce": "GTC", "type": "LIMIT", "side": "BUY", "stopPrice": "0.00000000",
        "icebergQty": "0.00000000", "time": placed["createTime"],
        "updateTime": placed["updateTime"], "isWorking": True,
        "workingTime": placed["createTime"], "origQuoteOrderQty": "0.00000000",
        "selfTradePreventionMode": "EXPIRE_MAKER"}]
    assert '"orderId":' + placed["orderId"] in response.text  # a JSON number, all digits
    every = await bn.get(protocol.OPEN_ORDERS)
    assert {r["symbol"] for r in ok(every)} == {"BTCUSDT", "ETHUSDT"}
    assert every.headers[protocol.USED_WEIGHT_HEADER] == str(6 + 80)


async def test_the_order_query_finds_by_either_id_and_maps_states(
        bn: Rest, control: httpx.AsyncClient) -> None:
    order = await place(control, price="50000", size="0.1", client_order_id="q1")
    by_id = ok(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId=order["orderId"]))
    by_client = ok(await bn.get(protocol.ORDER, symbol="BTCUSDT", origClientOrderId="q1"))
    assert by_id == by_client and by_id["status"] == "NEW"
    await control.post(f"/orders/{order['orderId']}/fill", json={"size": "0.04"})
    assert ok(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId=order["orderId"]))[
        "status"] == "PARTIALLY_FILLED"
    await control.post(f"/orders/{order['orderId']}/cancel")
    ended = ok(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId=order["orderId"]))
    assert (ended["status"], ended["executedQty"]) == ("CANCELED", "0.04000000")
    refused(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId="1"), 400,
            protocol.NO_SUCH_ORDER)
    refused(await bn.get(protocol.ORDER, symbol="ETHUSDT", orderId=order["orderId"]), 400,
            protocol.NO_SUCH_ORDER)
    refused(await bn.get(protocol.ORDER, symbol="BTCUSDT"), 400, protocol.MANDATORY_PARAM)
    refused(await bn.get(protocol.ORDER, symbol="NOPE", orderId="1"), 400, protocol.BAD_SYMBOL)
    refused(await bn.get(protocol.OPEN_ORDERS, symbol="BTC_USDT"), 400, protocol.BAD_SYMBOL)


@with_settings(binance_archive_s=0.3)
async def test_an_unfilled_cancel_is_archived_after_the_retention(
        bn: Rest, control: httpx.AsyncClient) -> None:
    unfilled = await place(control)
    filled = await place(control)
    await control.post(f"/orders/{filled['orderId']}/fill", json={"size": "0.05"})
    for order in (unfilled, filled):
        await control.post(f"/orders/{order['orderId']}/cancel")
    assert ok(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId=unfilled["orderId"]))[
        "status"] == "CANCELED"
    await asyncio.sleep(0.4)
    refused(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId=unfilled["orderId"]), 400,
            protocol.ARCHIVED)
    # An order with fills is kept.
    assert ok(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId=filled["orderId"]))[
        "executedQty"] == "0.05000000"


@pytest.mark.parametrize("kind", ["hmac", "rsa", "ed25519"])
async def test_each_key_type_signs_for_its_own_account(sim: Running, control: httpx.AsyncClient,
                                                       kind: str) -> None:
    client = Rest(sim, KEYS.api_key(kind), KEYS.signer(kind))
    try:
        await place(control, account=kind, price="50000", size="0.1")
        rows = ok(await client.get(protocol.OPEN_ORDERS))
        assert len(rows) == 1  # that account's order, no other
        # Another key type's signature over the same payload is refused.
        other = "ed25519" if kind != "ed25519" else "rsa"
        payload = signing.payload([("timestamp", now_ms())])
        wrong = await client.call("GET", protocol.OPEN_ORDERS,
                                  signature=KEYS.signer(other).sign(payload))
        refused(wrong, 400, protocol.INVALID_SIGNATURE)
    finally:
        await client.aclose()


async def test_key_signature_and_time_checks(bn: Rest) -> None:
    refused(await bn.call("GET", protocol.OPEN_ORDERS, api_key="nope"), 401,
            protocol.REJECTED_MBX_KEY)
    for wrong in ("ab" * 32, "é" * 64, "not base64!"):
        refused(await bn.call("GET", protocol.OPEN_ORDERS, signature=wrong), 400,
                protocol.INVALID_SIGNATURE)
    body = await bn.http.post(protocol.ORDER, content=b"symbol=\xff&timestamp=1&signature=ab",
                              headers={protocol.API_KEY_HEADER: KEYS.api_key("hmac")})
    refused(body, 400, protocol.INVALID_SIGNATURE)
    refused(await bn.get(protocol.OPEN_ORDERS, timestamp=now_ms() - 6000), 400,
            protocol.INVALID_TIMESTAMP)
    refused(await bn.get(protocol.OPEN_ORDERS, timestamp=now_ms() + 1500), 400,
            protocol.INVALID_TIMESTAMP)
    ok(await bn.get(protocol.OPEN_ORDERS, timestamp=now_ms() - 6000, recvWindow=10000))
    ok(await bn.get(protocol.OPEN_ORDERS, timestamp=now_ms() * 1000))  # microseconds
    refused(await bn.get(protocol.OPEN_ORDERS, recvWindow=60001), 400, protocol.BAD_RECV_WINDOW)
    refused(await bn.get(protocol.OPEN_ORDERS, timestamp="soon"), 400, protocol.MANDATORY_PARAM)


async def test_a_non_ascii_symbol_signs_percent_encoded(bn: Rest,
                                                        control: httpx.AsyncClient) -> None:
    await place(control, symbol=UTF8.name, price="2", size="3")
    rows = ok(await bn.get(protocol.OPEN_ORDERS, symbol="测试币USDT"))
    assert [r["symbol"] for r in rows] == ["测试币USDT"]
    # Signed over the unencoded text, as before 2026-01-15: refused.
    stamp = now_ms()
    raw = f"symbol=测试币USDT&timestamp={stamp}"
    wrong = await bn.call("GET", protocol.OPEN_ORDERS, symbol="测试币USDT", timestamp=stamp,
                          signature=KEYS.signer("hmac").sign(raw))
    refused(wrong, 400, protocol.INVALID_SIGNATURE)
    info = ok(await bn.http.get(protocol.EXCHANGE_INFO))
    assert {"symbol": "测试币USDT", "baseAsset": "测试币", "quoteAsset": "USDT",
            "status": "TRADING"}.items() <= next(
        s for s in info["symbols"] if s["symbol"] == "测试币USDT").items()


async def test_time_and_exchange_info(bn: Rest, control: httpx.AsyncClient) -> None:
    before = now_ms()
    assert before <= ok(await bn.http.get(protocol.TIME))["serverTime"] <= now_ms()
    await set_faults(control, clock_skew_ms=-30_000)
    assert ok(await bn.http.get(protocol.TIME))["serverTime"] < now_ms() - 29_000
    info = ok(await bn.http.get(protocol.EXCHANGE_INFO, params={"symbol": "ETHUSDT"}))
    assert [(s["symbol"], s["baseAsset"], s["quoteAsset"]) for s in info["symbols"]] == [
        ("ETHUSDT", "ETH", "USDT")]
    assert {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
            "limit": 6000} in info["rateLimits"]
    refused(await bn.http.get(protocol.EXCHANGE_INFO, params={"symbol": "NOPE"}), 400,
            protocol.BAD_SYMBOL)


@with_settings(binance_weight_limit=50, binance_ban_s=0.5)
async def test_weight_past_the_limit_is_429_then_a_ban_418(sim: Running,
                                                           control: httpx.AsyncClient) -> None:
    # The server's clock set 1 s into a minute: the window cannot turn during the test.
    await set_faults(control, clock_skew_ms=61_000 - now_ms() % 60_000)
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        for used in ("20", "40"):
            response = await http.get(protocol.EXCHANGE_INFO)
            assert response.headers[protocol.USED_WEIGHT_HEADER] == used
        limited = await http.get(protocol.EXCHANGE_INFO)
        refused(limited, 429, protocol.TOO_MANY_REQUESTS)
        assert 50 <= int(limited.headers[protocol.RETRY_AFTER]) <= 60
        assert limited.headers[protocol.USED_WEIGHT_HEADER] == "40"
        banned = await http.get(protocol.TIME)  # calling on regardless: banned
        refused(banned, 418, protocol.TOO_MANY_REQUESTS)
        assert banned.headers[protocol.RETRY_AFTER] == "1"
        refused(await http.get(protocol.TIME), 418, protocol.TOO_MANY_REQUESTS)
        await asyncio.sleep(0.6)
        # The ban is over; the minute's weight is still counted.
        assert (await http.get(protocol.TIME)).headers[protocol.USED_WEIGHT_HEADER] == "41"


async def test_place_limit_and_market_orders(bn: Rest, control: httpx.AsyncClient) -> None:
    limit = ok(await bn.call("POST", protocol.ORDER, symbol="BTCUSDT", side="SELL",
                             type="LIMIT", timeInForce="GTC", quantity="0.5", price="61000",
                             newClientOrderId="sell-1"))
    assert {"symbol": "BTCUSDT", "clientOrderId": "sell-1", "status": "NEW",
            "origQty": "0.50000000", "price": "61000.00000000", "fills": []}.items() \
        <= limit.items()
    assert isinstance(limit["orderId"], int)
    row = await truth(control, str(limit["orderId"]))
    assert (row["side"], row["size"], row["clientOrderId"]) == ("sell", "0.5", "sell-1")
    refused(await bn.call("POST", protocol.ORDER, symbol="BTCUSDT", side="SELL", type="LIMIT",
                          timeInForce="GTC", quantity="1", price="61000",
                          newClientOrderId="sell-1"), 400, protocol.NEW_ORDER_REJECTED)
    market = ok(await bn.call("POST", protocol.ORDER, symbol="BTCUSDT", side="BUY",
                              type="MARKET", quoteOrderQty="600"))
    assert market["type"] == "MARKET" and market["fills"]
    assert Decimal(market["executedQty"]) > 0
    sell = ok(await bn.call("POST", protocol.ORDER, symbol="ETHUSDT", side="SELL",
                            type="MARKET", quantity="0.2", newOrderRespType="ACK"))
    assert set(sell) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    refused(await bn.call("POST", protocol.ORDER, symbol="BTCUSDT", side="BUY", type="LIMIT",
                          quantity="1", price="1"), 400, protocol.UNSUPPORTED_OPERATION)
    refused(await bn.call("POST", protocol.ORDER, symbol="BTCUSDT", side="BUY", type="LIMIT",
                          timeInForce="GTC", quantity="1", price="1",
                          newClientOrderId="no spaces"), 400, protocol.ILLEGAL_CHARS)


async def test_cancel_names_its_own_client_id_and_the_orders(
        bn: Rest, control: httpx.AsyncClient) -> None:
    order = await place(control, client_order_id="orig7")
    answer = ok(await bn.call("DELETE", protocol.ORDER, symbol="BTCUSDT",
                              origClientOrderId="orig7", newClientOrderId="kill7"))
    assert (answer["clientOrderId"], answer["origClientOrderId"], answer["status"],
            answer["orderId"]) == ("kill7", "orig7", "CANCELED", int(order["orderId"]))
    assert (await truth(control, order["orderId"]))["state"] == "canceled"
    refused(await bn.call("DELETE", protocol.ORDER, symbol="BTCUSDT",
                          orderId=order["orderId"]), 400, protocol.CANCEL_REJECTED)
    other = await place(control)
    made = ok(await bn.call("DELETE", protocol.ORDER, symbol="BTCUSDT",
                            orderId=other["orderId"]))
    assert made["clientOrderId"] != made["origClientOrderId"]


async def test_cancel_replace_cancels_and_places_a_new_order(
        bn: Rest, control: httpx.AsyncClient) -> None:
    old = await place(control, price="50000", size="0.1")
    answer = ok(await bn.call("POST", protocol.CANCEL_REPLACE, symbol="BTCUSDT", side="BUY",
                              type="LIMIT", timeInForce="GTC", quantity="0.2", price="49000",
                              cancelReplaceMode="STOP_ON_FAILURE",
                              cancelOrderId=old["orderId"], newClientOrderId="next1"))
    assert (answer["cancelResult"], answer["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert answer["cancelResponse"]["status"] == "CANCELED"
    new_id = answer["newOrderResponse"]["orderId"]
    assert new_id != int(old["orderId"])
    assert (await truth(control, old["orderId"]))["state"] == "canceled"
    assert (await truth(control, str(new_id)))["size"] == "0.2"
    # The old order is gone: STOP_ON_FAILURE places nothing.
    failed = await bn.call("POST", protocol.CANCEL_REPLACE, symbol="BTCUSDT", side="BUY",
                           type="LIMIT", timeInForce="GTC", quantity="0.2", price="49000",
                           cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=old["orderId"])
    body = refused(failed, 400, protocol.CANCEL_REPLACE_FAILED)
    assert body["data"]["newOrderResult"] == "NOT_ATTEMPTED"
    # ALLOW_FAILURE places it anyway: a partial success, 409.
    partial = await bn.call("POST", protocol.CANCEL_REPLACE, symbol="BTCUSDT", side="BUY",
                            type="LIMIT", timeInForce="GTC", quantity="0.3", price="48000",
                            cancelReplaceMode="ALLOW_FAILURE", cancelOrderId=old["orderId"])
    body = refused(partial, 409, protocol.CANCEL_REPLACE_PARTIAL)
    assert (body["data"]["cancelResult"], body["data"]["newOrderResult"]) == (
        "FAILURE", "SUCCESS")


async def test_amend_reduces_the_size_keeping_the_order_id(
        bn: Rest, control: httpx.AsyncClient) -> None:
    order = await place(control, price="50000", size="1", client_order_id="a1")
    await control.post(f"/orders/{order['orderId']}/fill", json={"size": "0.2"})
    answer = ok(await bn.call("PUT", protocol.AMEND_KEEP_PRIORITY, symbol="BTCUSDT",
                              orderId=order["orderId"], newQty="0.6"))
    amended = answer["amendedOrder"]
    assert (amended["orderId"], amended["qty"], amended["executedQty"],
            amended["origClientOrderId"]) == (int(order["orderId"]), "0.60000000",
                                              "0.20000000", "a1")
    assert amended["clientOrderId"] not in ("a1", "")  # a new random one
    row = await truth(control, order["orderId"])
    assert (row["size"], row["filledSize"], row["state"]) == ("0.6", "0.2", "partially_filled")
    assert row["clientOrderId"] == amended["clientOrderId"]
    named = ok(await bn.call("PUT", protocol.AMEND_KEEP_PRIORITY, symbol="BTCUSDT",
                             orderId=order["orderId"], newQty="0.5", newClientOrderId="a2"))
    assert named["amendedOrder"]["clientOrderId"] == "a2"
    for qty in ("0.5", "0.7", "0.2"):  # not below the size, or not above what filled
        refused(await bn.call("PUT", protocol.AMEND_KEEP_PRIORITY, symbol="BTCUSDT",
                              orderId=order["orderId"], newQty=qty), 400, -2038)
    assert (await truth(control, order["orderId"]))["clientOrderId"] == "a2"


async def test_rest_faults_reach_the_binance_paths(bn: Rest, control: httpx.AsyncClient) -> None:
    await set_faults(control, rest_5xx=1.0)
    failed = await bn.get(protocol.OPEN_ORDERS)
    assert failed.status_code == 500 and failed.json()["code"] < 0
    assert failed.headers[protocol.USED_WEIGHT_HEADER] == "0"  # failed before it was weighed
    await set_faults(control, rest_5xx=0.0, rest_429=1.0)
    limited = await bn.get(protocol.OPEN_ORDERS)
    refused(limited, 429, protocol.TOO_MANY_REQUESTS)
    assert protocol.RETRY_AFTER in limited.headers
    await set_faults(control, rest_429=0.0)
    counts = await injected(control)
    assert counts["rest_5xx"] == 1 and counts["rest_429"] == 1


async def test_rest_lag_hides_a_changed_order(bn: Rest, control: httpx.AsyncClient) -> None:
    await set_faults(control, rest_lag_ms=400)
    order = await place(control)
    refused(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId=order["orderId"]), 400,
            protocol.NO_SUCH_ORDER)
    await asyncio.sleep(0.5)
    ok(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId=order["orderId"]))


async def test_rest_stale_reads_answer_the_state_of_a_while_ago(
        bn: Rest, control: httpx.AsyncClient) -> None:
    await set_faults(control, rest_stale_ms=400)
    order = await place(control)
    assert ok(await bn.get(protocol.OPEN_ORDERS)) == []  # not placed yet, as REST sees it
    refused(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId=order["orderId"]), 400,
            protocol.NO_SUCH_ORDER)
    await asyncio.sleep(0.5)
    assert [r["orderId"] for r in ok(await bn.get(protocol.OPEN_ORDERS))] == [
        int(order["orderId"])]
    await control.post(f"/orders/{order['orderId']}/fill", json={"size": "0.04"})
    await control.post(f"/orders/{order['orderId']}/cancel")
    # Canceled in truth; still open, unfilled, to a stale read.
    stale = ok(await bn.get(protocol.ORDER, symbol="BTCUSDT", orderId=order["orderId"]))
    assert (stale["status"], stale["executedQty"]) == ("NEW", "0.00000000")
    assert len(ok(await bn.get(protocol.OPEN_ORDERS, symbol="BTCUSDT"))) == 1
    await asyncio.sleep(0.5)
    assert ok(await bn.get(protocol.OPEN_ORDERS, symbol="BTCUSDT")) == []
    assert (await injected(control))["rest_stale"] >= 4
