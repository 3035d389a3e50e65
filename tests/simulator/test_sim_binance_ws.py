"""Binance's WebSocket API face over real sockets: logon and the two ways to subscribe,
events in the executionReport shape, unsubscribing, the server's pings and pong deadline,
the connection's maximum age, serverShutdown, ended subscriptions, a revoked key, the
push faults and the benchmarks' load."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from simulator import burst
from simulator.app import Running
from simulator.faces.binance import load
from simulator.state import Settings
from tests.conftest import injected, place, set_faults
from tests.simulator import shared
from tests.simulator.binance_client import Keys, Rest, WsApi, now_ms, ok, refused
from tests.simulator.shared import closed, quiet, with_settings
from tracker.venues.binance import protocol, signing

KEYS = Keys()
Factory = Callable[..., Awaitable[WsApi]]


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    return shared.settings(request, accounts=KEYS.accounts)


@pytest.fixture
async def connect(sim: Running) -> AsyncIterator[Factory]:
    opened: list[WsApi] = []

    async def factory(query: str = "", compression: str | None = "deflate") -> WsApi:
        client = await WsApi.connect(sim, query, compression)
        opened.append(client)
        return client

    yield factory
    for client in opened:
        await client.close()


async def subscribed(connect: Factory, kind: str = "hmac",
                     compression: str | None = "deflate") -> WsApi:
    client = await connect(compression=compression)
    answer = await client.signed(protocol.SUBSCRIBE_SIGNATURE, KEYS.api_key(kind),
                                 KEYS.signer(kind))
    assert answer["status"] == 200 and answer["result"] == {"subscriptionId": 0}, answer
    return client


@pytest.mark.parametrize("kind", ["hmac", "rsa", "ed25519"])
async def test_subscribe_signature_then_an_orders_events(connect: Factory,
                                                         control: httpx.AsyncClient,
                                                         kind: str) -> None:
    client = await subscribed(connect, kind)
    order = await place(control, account=kind, price="50000", size="1", client_order_id="w1")
    new = await client.event()
    assert set(new) == {"subscriptionId", "event"} and new["subscriptionId"] == 0
    event = new["event"]
    assert {"e": "executionReport", "s": "BTCUSDT", "c": "w1", "S": "BUY", "o": "LIMIT",
            "q": "1.00000000", "p": "50000.00000000", "x": "NEW", "X": "NEW", "C": "",
            "i": int(order["orderId"]), "z": "0.00000000", "T": order["updateTime"],
            "O": order["createTime"], "g": -1}.items() <= event.items()
    assert isinstance(event["E"], int)
    await control.post(f"/orders/{order['orderId']}/fill", json={"size": "0.25"},
                       params={"account": kind})
    trade = (await client.event())["event"]
    assert (trade["x"], trade["X"], trade["l"], trade["z"], trade["L"]) == (
        "TRADE", "PARTIALLY_FILLED", "0.25000000", "0.25000000", "50000.00000000")
    assert trade["N"] == "USDT" and trade["t"] > 0 and trade["m"] is True
    await control.post(f"/orders/{order['orderId']}/cancel", params={"account": kind})
    ended = (await client.event())["event"]
    assert (ended["x"], ended["X"], ended["z"], ended["C"]) == (
        "CANCELED", "CANCELED", "0.25000000", "w1")
    assert ended["c"] not in ("w1", "")  # the cancel's own id
    await quiet(client.event)


async def test_events_are_the_subscribed_accounts_only(connect: Factory,
                                                       control: httpx.AsyncClient) -> None:
    client = await subscribed(connect, "rsa")
    await place(control, account="hmac")
    await quiet(client.event)


async def test_rest_cancel_and_amend_events_carry_their_client_ids(
        sim: Running, connect: Factory, control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    rest = Rest(sim, KEYS.api_key("hmac"), KEYS.signer("hmac"))
    try:
        order = await place(control, size="1", client_order_id="base")
        await client.event()
        ok(await rest.call("PUT", protocol.AMEND_KEEP_PRIORITY, symbol="BTCUSDT",
                           orderId=order["orderId"], newQty="0.4", newClientOrderId="smaller"))
        amended = (await client.event())["event"]
        assert (amended["x"], amended["X"], amended["q"], amended["c"], amended["C"],
                amended["i"]) == ("REPLACED", "NEW", "0.40000000", "smaller", "base",
                                  int(order["orderId"]))
        ok(await rest.call("DELETE", protocol.ORDER, symbol="BTCUSDT",
                           orderId=order["orderId"], newClientOrderId="gone"))
        ended = (await client.event())["event"]
        assert (ended["x"], ended["c"], ended["C"]) == ("CANCELED", "gone", "smaller")
    finally:
        await rest.aclose()


async def test_logon_takes_ed25519_keys_only(connect: Factory) -> None:
    client = await connect()
    early = await client.request(protocol.SUBSCRIBE)
    assert early["status"] == 401 and early["error"]["code"] == protocol.UNAUTHORIZED
    for kind in ("hmac", "rsa"):
        answer = await client.signed(protocol.SESSION_LOGON, KEYS.api_key(kind),
                                     KEYS.signer(kind))
        assert answer["status"] == 400, answer
    logon = await client.signed(protocol.SESSION_LOGON, KEYS.api_key("ed25519"),
                                KEYS.signer("ed25519"))
    assert logon["status"] == 200 and logon["result"]["apiKey"] == KEYS.api_key("ed25519")
    assert logon["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
    first = await client.request(protocol.SUBSCRIBE)
    assert first["result"] == {"subscriptionId": 0}
    again = await client.request(protocol.SUBSCRIBE)
    assert again["error"]["code"] == protocol.SUBSCRIPTION_ACTIVE
    # Another account beside it, on the same connection.
    other = await client.signed(protocol.SUBSCRIBE_SIGNATURE, KEYS.api_key("hmac"),
                                KEYS.signer("hmac"))
    assert other["result"] == {"subscriptionId": 1}
    listed = await client.request(protocol.SUBSCRIPTIONS)
    assert listed["result"] == [{"subscriptionId": 0}, {"subscriptionId": 1}]


async def test_signed_subscribe_refusals(connect: Factory) -> None:
    client = await connect("?returnRateLimits=false")
    signer = KEYS.signer("hmac")
    cases = [
        ({"apiKey": "nope"}, 401, protocol.REJECTED_MBX_KEY),
        ({"signature": "ab" * 32}, 400, protocol.INVALID_SIGNATURE),
        ({"signature": "é" * 64}, 400, protocol.INVALID_SIGNATURE),
        ({"signature": 12}, 400, protocol.MANDATORY_PARAM),
        ({"timestamp": 1}, 400, protocol.INVALID_TIMESTAMP),
        ({"recvWindow": 70000}, 400, protocol.BAD_RECV_WINDOW),
    ]
    for change, status, code in cases:
        params: dict[str, Any] = {"apiKey": KEYS.api_key("hmac"), "timestamp": now_ms()} \
            | change
        if "signature" not in params:
            params["signature"] = signer.sign(signing.ws_payload(params))
        answer = await client.request(protocol.SUBSCRIBE_SIGNATURE, params)
        assert (answer["status"], answer["error"]["code"]) == (status, code), answer
        assert "rateLimits" not in answer
    unknown = await client.request("order.place", {})
    assert unknown["error"]["code"] == protocol.UNSUPPORTED_OPERATION


async def test_unsubscribe_ends_with_event_stream_terminated(connect: Factory,
                                                             control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    answer = await client.request(protocol.UNSUBSCRIBE, {"subscriptionId": 0})
    assert answer["result"] == {}
    ended = await client.event()
    assert ended["subscriptionId"] == 0 and ended["event"]["e"] == protocol.STREAM_TERMINATED
    missing = await client.request(protocol.UNSUBSCRIBE, {"subscriptionId": 0})
    assert missing["error"]["code"] == protocol.SUBSCRIPTION_INACTIVE
    await place(control)
    await quiet(client.event)
    assert (await client.request(protocol.SUBSCRIPTIONS))["result"] == []
    # Subscribing again is a new subscription id.
    again = await client.signed(protocol.SUBSCRIBE_SIGNATURE, KEYS.api_key("hmac"),
                                KEYS.signer("hmac"))
    assert again["result"] == {"subscriptionId": 1}
    assert (await client.request(protocol.UNSUBSCRIBE))["result"] == {}  # all of them
    assert (await client.event())["event"]["e"] == protocol.STREAM_TERMINATED


@with_settings(binance_ping_s=0.2, binance_pong_timeout_s=0.7)
async def test_pings_and_the_pong_deadline(sim: Running, connect: Factory) -> None:
    answering = await subscribed(connect)  # websockets answers every ping
    async with aiohttp.ClientSession() as http, http.ws_connect(
            sim.ws_urls["binance"], autoping=False) as silent:
        pings = 0
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            msg = await silent.receive(timeout=5)
            if msg.type == aiohttp.WSMsgType.PING:
                pings += 1
                continue
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
            break
        assert pings >= 2 and 0.6 <= loop.time() - started < 3.0
    # The one that answers is still served.
    assert (await answering.request("ping"))["status"] == 200


@with_settings(binance_max_age_s=0.5)
async def test_a_connection_is_cut_at_its_maximum_age(connect: Factory) -> None:
    client = await subscribed(connect)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await closed(client.ws, 5)
    assert 0.3 <= loop.time() - started < 3.0


async def test_server_shutdown_is_announced_then_the_connection_closes(
        connect: Factory, control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    response = await control.post("/binance/shutdown", json={"delay_s": 0.3})
    assert response.json() == {"announced": 1}
    notice = await client.event()
    assert set(notice) == {"event"} and notice["event"]["e"] == protocol.SERVER_SHUTDOWN
    await closed(client.ws, 2)
    assert (await injected(control))["server_shutdown"] == 1


async def test_the_control_api_ends_subscriptions(connect: Factory,
                                                  control: httpx.AsyncClient) -> None:
    hmac, rsa = await subscribed(connect), await subscribed(connect, "rsa")
    response = await control.post("/binance/terminate", json={"account": "rsa"})
    assert response.json() == {"terminated": 1}
    assert (await rsa.event())["event"]["e"] == protocol.STREAM_TERMINATED
    await quiet(hmac.event)
    assert (await rsa.request("ping"))["status"] == 200  # the connection stays


async def test_a_revoked_key_ends_its_sessions_and_calls(
        sim: Running, connect: Factory, control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    response = await control.post("/binance/revoke", json={"account": "hmac"})
    assert response.json() == {"account": "hmac", "revoked": True}
    revoked = await client.event()
    assert revoked == {"id": None, "status": 401, "error": {
        "code": protocol.REJECTED_MBX_KEY,
        "msg": "Invalid API-key, IP, or permissions for action."}}
    await place(control)
    await quiet(client.event)
    rest = Rest(sim, KEYS.api_key("hmac"), KEYS.signer("hmac"))
    try:
        refused(await rest.get(protocol.OPEN_ORDERS), 401, protocol.REJECTED_MBX_KEY)
        await control.post("/binance/revoke", json={"account": "hmac", "revoked": False})
        ok(await rest.get(protocol.OPEN_ORDERS))
    finally:
        await rest.aclose()


async def test_duplicate_and_reordered_events(connect: Factory,
                                              control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    await set_faults(control, push_duplicate=1.0)
    await place(control, client_order_id="twice")
    first, second = await client.event(), await client.event()
    assert first == second and first["event"]["c"] == "twice"
    await set_faults(control, push_duplicate=0.0, push_reorder=1.0)
    order = await place(control)
    await control.post(f"/orders/{order['orderId']}/cancel")
    kinds = [(await client.event())["event"]["x"] for _ in range(2)]
    assert kinds == ["CANCELED", "NEW"]
    counts = await injected(control)
    assert counts["push_duplicate"] == 1 and counts["push_reorder"] >= 1


async def test_the_stream_end_fault_ends_a_subscription(connect: Factory,
                                                        control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    await set_faults(control, stream_end=1.0)
    await place(control)
    ended = await client.event()
    assert ended == {"subscriptionId": 0, "event": {"e": protocol.STREAM_TERMINATED,
                                                    "E": ended["event"]["E"]}}
    await set_faults(control, stream_end=0.0)
    await place(control)
    await quiet(client.event)
    assert (await injected(control))["stream_end"] == 1


async def test_connection_faults_and_raw_frames_reach_it(connect: Factory,
                                                         control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    sent = await control.post("/ws/send", json={"text": "not json"})
    assert sent.json() == {"sent": 1}
    assert await client.ws.recv() == "not json"
    stats = (await control.get("/stats")).json()["connections"]
    assert [c["topics"] for c in stats] == [["0"]]
    dropped = await control.post("/ws/drop", json={"mode": "close", "code": 4001})
    assert dropped.json() == {"dropped": 1}
    assert (await closed(client.ws, 2)).rcvd.code == 4001


async def test_ws_silent_sends_nothing(connect: Factory, control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    await set_faults(control, ws_silent=True)
    await place(control)
    await client.ws.send(json.dumps(protocol.request("x", "ping")))
    await quiet(client.event)


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_a_load_is_spelled_as_execution_reports(connect: Factory,
                                                      control: httpx.AsyncClient,
                                                      compression: str | None) -> None:
    """With permessage-deflate the burst's frames are aiohttp's to compress; without, the
    simulator writes them to the socket itself, many at a time: the client reads the same
    events either way, in order."""
    client = await subscribed(connect, compression=compression)
    response = await control.post("/load/burst", json={"orders": 300, "pushes": 1200,
                                                       "start_ms": 1_700_000_000_000})
    assert response.status_code == 200, response.text
    events = [(await client.event())["event"] for _ in range(1200)]
    planned = burst.burst_pushes(300, 1200, "BTC_USDT", 1_700_000_000_000)
    assert events == [json.loads(load.frame(push))["event"] for push in planned]
    assert (events[0]["e"], events[0]["X"], events[0]["z"]) == ("executionReport", "NEW", "0")
    assert events[-1]["X"] == "FILLED" and events[-1]["z"] == events[-1]["q"]
    assert events[0]["s"] == "BTCUSDT" and isinstance(events[0]["i"], int)


async def test_a_market_buy_ends_without_a_cancel_id(connect: Factory,
                                                     control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    await place(control, type="market", side="buy", notional="1000", client_order_id="mk")
    events = [(await client.event())["event"] for _ in range(3)]
    assert [(e["x"], e["X"]) for e in events] == [
        ("NEW", "NEW"), ("TRADE", "PARTIALLY_FILLED"), ("CANCELED", "CANCELED")]
    assert [(e["c"], e["C"], e["o"]) for e in events] == [("mk", "", "MARKET")] * 3
    assert float(events[-1]["z"]) > 0 and events[-1]["Q"] == "1000.00000000"


@pytest.mark.parametrize("item", ["", "x" * 125, "y" * 126, "é" * 40_000, b"\x00" * 70_000])
def test_a_burst_frame_is_what_a_websocket_client_parses(item: str | bytes) -> None:
    """The frames a burst writes itself, at each length encoding (RFC 6455 5.2), read by
    the websockets library's own parser as a client reads a server's."""
    reader = StreamReader()
    reader.feed_data(burst.wire_frame(item))
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as parsed:
        next(parser)
    frame = parsed.value.value
    assert frame.fin and frame.opcode is (Opcode.BINARY if isinstance(item, bytes)
                                          else Opcode.TEXT)
    assert frame.data == (item if isinstance(item, bytes) else item.encode())
