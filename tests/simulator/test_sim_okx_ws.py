"""OKX's private WebSocket face over real sockets: login and its refusals, subscribe and
its acks, the `orders` pushes, text ping/pong, the idle cut (4004), the 64008 notice, the
connections allowed per channel, a deleted key (4007), the push faults (the repeat with
another uTime among them) and the benchmarks' load."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import websockets

from simulator.app import Running
from simulator.state import Account, Settings
from tests.conftest import injected, place, set_faults
from tests.simulator import shared
from tests.simulator.okx_client import ACCOUNTS, MAIN, OTHER, Rest, Ws, login_args, ok, refused
from tests.simulator.shared import closed, quiet, with_settings
from tracker.venues.okx import protocol

Factory = Callable[[], Awaitable[Ws]]


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    return shared.settings(request, accounts=ACCOUNTS)


@pytest.fixture
async def connect(sim: Running) -> AsyncIterator[Factory]:
    opened: list[Ws] = []

    async def factory() -> Ws:
        client = await Ws.connect(sim)
        opened.append(client)
        return client

    yield factory
    for client in opened:
        await client.close()


async def subscribed(connect: Factory, account: Account = MAIN, **arg: str) -> Ws:
    client = await connect()
    login = await client.login(account)
    assert {k: login[k] for k in ("event", "code", "msg")} == {
        "event": "login", "code": "0", "msg": ""}, login
    ack, count = await client.subscribe(**arg)
    assert ack["event"] == "subscribe" and count["event"] == protocol.CONN_COUNT, (ack, count)
    return client


async def test_login_subscribe_then_an_orders_pushes(sim: Running, connect: Factory,
                                                     control: httpx.AsyncClient) -> None:
    client = await connect()
    login = await client.login(MAIN)
    assert set(login) == {"event", "code", "msg", "connId"}
    await client.send({"id": "1512", "op": "subscribe",
                       "args": [{"channel": "orders", "instType": "SPOT"}]})
    ack, count = await client.frame(), await client.frame()
    assert ack == {"id": "1512", "event": "subscribe",
                   "arg": {"channel": "orders", "instType": "SPOT"},
                   "connId": login["connId"]}
    assert count == {"event": "channel-conn-count", "channel": "orders", "connCount": "1",
                     "connId": login["connId"]}
    order = await place(control, price="50000", size="1", client_order_id="w1")
    new = await client.push()
    assert set(new) == {"arg", "data"} and len(new["data"]) == 1
    assert new["arg"]["channel"] == "orders" and new["arg"]["instType"] == "SPOT"
    assert new["arg"]["uid"].isdigit()
    live = new["data"][0]
    assert {"instType": "SPOT", "instId": "BTC-USDT", "ordId": order["orderId"],
            "clOrdId": "w1", "px": "50000", "sz": "1", "side": "buy", "ordType": "limit",
            "state": "live", "accFillSz": "0", "fillSz": "0", "fillPx": "", "tradeId": "",
            "avgPx": "0", "cTime": str(order["createTime"]),
            "uTime": str(order["updateTime"]), "reqId": "", "amendResult": "",
            "code": "0", "msg": "", "execType": ""}.items() <= live.items()
    assert "cancelSourceReason" not in live
    rest = Rest(sim, MAIN)
    try:
        [row] = ok(await rest.get(protocol.ORDER, instId="BTC-USDT", ordId=order["orderId"]))
    finally:
        await rest.aclose()
    assert set(row) - {"cancelSourceReason"} <= set(live)  # the REST row's fields, and more
    await control.post(f"/orders/{order['orderId']}/fill", json={"size": "0.25"},
                       params={"account": "main"})
    await control.post(f"/orders/{order['orderId']}/fill", json={"size": "0.25"},
                       params={"account": "main"})
    fills = [(await client.push())["data"][0] for _ in range(2)]
    assert [(f["state"], f["fillSz"], f["accFillSz"], f["execType"]) for f in fills] == [
        ("partially_filled", "0.25", "0.25", "M"), ("partially_filled", "0.25", "0.5", "M")]
    assert fills[0]["tradeId"] != fills[1]["tradeId"] and fills[1]["fillFee"] == "-12.5"
    await control.post(f"/orders/{order['orderId']}/cancel", params={"account": "main"})
    ended = (await client.push())["data"][0]
    assert (ended["state"], ended["accFillSz"], ended["cancelSource"], ended["fillSz"]) == (
        "canceled", "0.5", "1", "0")
    assert int(ended["uTime"]) > int(fills[1]["uTime"])
    await quiet(client.frame)


async def test_pushes_are_the_accounts_and_the_instruments_subscribed(
        connect: Factory, control: httpx.AsyncClient) -> None:
    everything = await subscribed(connect)
    eth_only = await subscribed(connect, instId="ETH-USDT")
    await place(control, account="other")
    await quiet(everything.frame)
    await place(control, account="main", symbol="BTC_USDT")
    await place(control, account="main", symbol="ETH_USDT", price="3000", size="1")
    assert [(await everything.push())["data"][0]["instId"] for _ in range(2)] == [
        "BTC-USDT", "ETH-USDT"]
    eth = await eth_only.push()
    assert eth["arg"]["instId"] == "ETH-USDT" and eth["data"][0]["instId"] == "ETH-USDT"
    await quiet(eth_only.frame)
    await eth_only.send({"op": "unsubscribe", "args": [{"channel": "orders",
                                                        "instType": "SPOT",
                                                        "instId": "ETH-USDT"}]})
    assert (await eth_only.frame())["event"] == "unsubscribe"
    await place(control, account="main", symbol="ETH_USDT", price="3000", size="1")
    await quiet(eth_only.frame)


async def test_an_amend_push_carries_its_req_id(sim: Running, connect: Factory,
                                                control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    rest = Rest(sim, MAIN)
    try:
        order = await place(control, account="main", size="1")
        await client.push()
        ok(await rest.post(protocol.AMEND_ORDER, instId="BTC-USDT", ordId=order["orderId"],
                           newPx="51000", reqId="amend7"))
        amended = (await client.push())["data"][0]
        assert (amended["px"], amended["sz"], amended["reqId"], amended["amendResult"],
                amended["state"]) == ("51000", "1", "amend7", "0", "live")
        ok(await rest.post(protocol.CANCEL_ORDER, instId="BTC-USDT", ordId=order["orderId"]))
        ended = (await client.push())["data"][0]
        assert (ended["state"], ended["reqId"], ended["amendResult"]) == ("canceled", "", "")
    finally:
        await rest.aclose()


async def test_login_refusals(connect: Factory) -> None:
    client = await connect()
    await client.send({"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]})
    early = await client.frame()
    assert (early["event"], early["code"]) == ("error", protocol.WS_PLEASE_LOG_IN)
    now = int(time.time())
    cases = [
        (login_args(MAIN, secret="wrong"), protocol.WS_LOGIN_FAILED),
        (login_args(Account(MAIN.api_key, MAIN.secret, "", passphrase="nope")),
         protocol.WS_LOGIN_FAILED),
        (login_args(Account("nobody", MAIN.secret, "", passphrase=MAIN.passphrase)),
         protocol.WS_LOGIN_FAILED),
        (login_args(MAIN, stamp=now - 31), protocol.WS_TIMESTAMP_EXPIRED),
        (login_args(MAIN, stamp=now * 1000), protocol.WS_TIMESTAMP_EXPIRED),  # milliseconds
    ]
    for message, code in cases:
        await client.send(message)
        answer = await client.frame()
        assert (answer["event"], answer["code"]) == ("error", code), (message, answer)
        assert answer["msg"] and answer["connId"]
    bad_stamp = login_args(MAIN)
    bad_stamp["args"][0]["timestamp"] = "2020-12-08T09:08:57.715Z"
    await client.send(bad_stamp)
    assert (await client.frame())["code"] == protocol.WS_INVALID_TIMESTAMP
    await client.send("{not json")
    assert (await client.frame())["code"] == protocol.WS_INVALID_REQUEST
    # Still not logged in; then a good login is taken on the same connection.
    await client.send({"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]})
    assert (await client.frame())["code"] == protocol.WS_PLEASE_LOG_IN
    # The timestamp as a JSON number, as the official SDK (python-okx) sends it.
    as_number = login_args(MAIN)
    as_number["args"][0]["timestamp"] = int(as_number["args"][0]["timestamp"])
    await client.send(as_number)
    assert (await client.frame())["code"] == "0"
    await client.send({"op": "subscribe", "args": [{"channel": "balance"}]})
    assert (await client.frame())["code"] == "60018"
    await client.send({"op": "subscribe", "args": [{"channel": "orders"}]})
    assert (await client.frame())["code"] == protocol.WS_INVALID_REQUEST


async def test_text_ping_pong(connect: Factory) -> None:
    client = await connect()
    await client.send(protocol.PING)
    assert await client.frame() == protocol.PONG


@with_settings(okx_idle_timeout_s=0.6)
async def test_the_idle_cut(connect: Factory, control: httpx.AsyncClient) -> None:
    quiet_client = await subscribed(connect)
    pinging = await subscribed(connect)
    protocol_pings = await subscribed(connect)
    started = time.monotonic()
    for _ in range(5):  # 1 s: past the cut, for the client that keeps talking too
        await pinging.send(protocol.PING)
        assert await pinging.frame() == protocol.PONG
        with contextlib.suppress(websockets.ConnectionClosed):  # cut on its way
            await protocol_pings.ws.ping()
        await asyncio.sleep(0.2)
    cut = await closed(quiet_client.ws, 1)
    assert cut.rcvd is not None and cut.rcvd.code == protocol.CLOSE_NO_DATA
    assert time.monotonic() - started >= 0.5
    # A protocol ping is answered, but is not the client heard: OKX asks for text `ping`.
    cut = await closed(protocol_pings.ws, 1)
    assert cut.rcvd is not None and cut.rcvd.code == protocol.CLOSE_NO_DATA
    await place(control, account="main")
    assert (await pinging.push())["data"][0]["state"] == "live"
    stats = (await control.get("/stats")).json()
    assert stats["counters"]["ws_closed_idle"] == 2


async def test_the_upgrade_notice_then_the_close(connect: Factory,
                                                 control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    announced = await control.post("/okx/notice", json={"delay_s": 0.3})
    assert announced.json() == {"announced": 1}
    notice = await client.frame()
    assert (notice["event"], notice["code"]) == ("notice", protocol.WS_UPGRADE_NOTICE)
    assert notice["msg"] and notice["connId"]
    cut = await closed(client.ws, 2)
    assert cut.rcvd is not None and cut.rcvd.code == 1001
    assert (await control.post("/okx/notice", json={"delay_s": -1})).status_code == 400


@with_settings(okx_channel_conn_limit=1)
async def test_past_the_connections_per_channel_the_subscription_ends(
        connect: Factory, control: httpx.AsyncClient) -> None:
    first = await subscribed(connect)
    second = await connect()
    await second.login(MAIN)
    ack, error = await second.subscribe()
    assert ack["event"] == "subscribe"
    assert (error["event"], error["channel"], error["connCount"]) == (
        protocol.CONN_COUNT_ERROR, "orders", "1")
    other = await subscribed(connect, OTHER)  # another account counts on its own
    await place(control, account="main")
    assert (await first.push())["data"][0]["state"] == "live"
    await quiet(second.frame)
    await quiet(other.frame)


async def test_a_deleted_key_closes_with_4007(sim: Running, connect: Factory,
                                              control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    bystander = await subscribed(connect, OTHER)
    answer = await control.post("/okx/revoke", json={"account": "main"})
    assert answer.json() == {"account": "main", "revoked": True}
    cut = await closed(client.ws, 2)
    assert cut.rcvd is not None and cut.rcvd.code == protocol.CLOSE_KEY_CHANGED
    again = await connect()
    await again.send(login_args(MAIN))
    assert (await again.frame())["code"] == protocol.WS_LOGIN_FAILED
    rest = Rest(sim, MAIN)
    try:
        refused(await rest.get(protocol.ORDERS_PENDING, instType="SPOT"), 401, "50111")
        await control.post("/okx/revoke", json={"account": "main", "revoked": False})
        ok(await rest.get(protocol.ORDERS_PENDING, instType="SPOT"))
    finally:
        await rest.aclose()
    await bystander.send(protocol.PING)
    assert await bystander.frame() == protocol.PONG


async def test_repeated_pushes_with_another_u_time(connect: Factory,
                                                   control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    await set_faults(control, push_repeat=1.0)
    await place(control, account="main", client_order_id="again")
    first, second = await client.push(), await client.push()
    assert int(second["data"][0]["uTime"]) == int(first["data"][0]["uTime"]) + 1
    second["data"][0]["uTime"] = first["data"][0]["uTime"]
    assert first == second
    await set_faults(control, push_repeat=0.0, push_duplicate=1.0)
    await place(control, account="main")
    assert await client.push() == await client.push()
    counts = await injected(control)
    assert counts["push_repeat"] == 1 and counts["push_duplicate"] == 1


async def test_connection_faults_silence_and_raw_frames_reach_it(
        connect: Factory, control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    sent = await control.post("/ws/send", json={"text": "not json"})
    assert sent.json() == {"sent": 1}
    assert await client.ws.recv() == "not json"
    await set_faults(control, ws_silent=True)
    await place(control, account="main")
    await client.send(protocol.PING)
    await quiet(client.frame)
    await set_faults(control, ws_silent=False)
    dropped = await control.post("/ws/drop", json={"mode": "close", "code": 4001})
    assert dropped.json() == {"dropped": 1}
    cut = await closed(client.ws, 2)
    assert cut.rcvd is not None and cut.rcvd.code == 4001


async def test_a_load_is_spelled_as_orders_pushes(connect: Factory,
                                                  control: httpx.AsyncClient) -> None:
    client = await subscribed(connect)
    response = await control.post("/load/burst", json={"orders": 2, "pushes": 4,
                                                       "start_ms": 1_700_000_000_000})
    assert response.status_code == 200, response.text
    pushes = [(await client.push())["data"][0] for _ in range(4)]
    assert [(p["state"], p["accFillSz"]) for p in pushes] == [
        ("live", "0"), ("live", "0"), ("filled", "1"), ("filled", "1")]
    assert pushes[0]["instId"] == "BTC-USDT" and pushes[0]["ordId"].isdigit()
