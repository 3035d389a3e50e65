"""The simulator's private WebSocket face (protocol §3), over real sockets.

Every test talks to a freshly started simulator through `websockets`, drives orders through
the control API and checks what arrives on the wire: login and subscribe rules, the push
shape and the §3.5 lifecycles, framing, keep-alive and limits, and the push faults.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
import websockets

from simulator.app import Running
from simulator.state import DEMO_ACCOUNT, Settings
from simulator.store import SymbolSpec
from tests.conftest import injected, place, set_faults
from tests.simclient import WS, now_ms
from tracker.venues.bitmart import protocol, signing

BTC = protocol.order_topic("BTC_USDT")
ETH = protocol.order_topic("ETH_USDT")
ALL = protocol.ALL_SYMBOLS
QUIET_S = 0.2  # how long "nothing arrives" is watched for

Factory = Callable[[], Awaitable[WS]]


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    """Defaults with port 0; a test changes fields with
    `@pytest.mark.parametrize("settings", [{...}], indirect=True)`."""
    return Settings(port=0, **getattr(request, "param", {}))


def with_settings(**overrides: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("settings", [overrides], indirect=True)


@pytest.fixture
async def conn(ws_factory: Factory) -> WS:
    """A logged-in connection."""
    c = await ws_factory()
    assert await c.login() == {"event": "login"}
    return c


async def subscribed(ws_factory: Factory, *topics: str) -> WS:
    c = await ws_factory()
    assert await c.login() == {"event": "login"}
    assert await c.subscribe(*topics) == [{"event": "subscribe", "topic": t} for t in topics]
    return c


async def expect_closed(c: WS, within: float = 1.0) -> websockets.ConnectionClosed:
    """Read (and discard) until the server ends the connection; fail if it stays open."""
    with pytest.raises(websockets.ConnectionClosed) as info:
        async with asyncio.timeout(within * 3):  # a stream that never ends is a failure too
            while True:
                await c.recv(within)
    return info.value


async def expect_quiet(c: WS, duration: float = QUIET_S) -> None:
    with pytest.raises(TimeoutError):
        message = await c.recv(duration)
        pytest.fail(f"expected nothing, got {message!r}")


async def cancel(control: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    response = await control.post(f"/orders/{order_id}/cancel")
    assert response.status_code == 200, response.text
    return response.json()


async def fill(control: httpx.AsyncClient, order_id: str, size: str | None = None
               ) -> dict[str, Any]:
    response = await control.post(f"/orders/{order_id}/fill",
                                  json={} if size is None else {"size": size})
    assert response.status_code == 200, response.text
    return response.json()



def login_message(key: str = DEMO_ACCOUNT.api_key, stamp: str | None = None,
                  sign: str | None = None) -> dict[str, Any]:
    stamp = str(now_ms()) if stamp is None else stamp
    if sign is None:
        sign = signing.ws_login_sign(DEMO_ACCOUNT.secret, DEMO_ACCOUNT.memo, stamp)
    return protocol.login_request(key, stamp, sign)


# -- login ---------------------------------------------------------------------------------


async def test_login_success_keeps_the_connection(ws_factory: Factory) -> None:
    c = await ws_factory()
    assert await c.login() == {"event": "login"}
    assert isinstance(c.raw[-1], str)  # event replies are text frames
    await c.send("ping")
    assert await c.recv() == "pong"


async def test_login_tolerates_a_few_seconds_of_clock_skew(ws_factory: Factory) -> None:
    ahead = await ws_factory()
    assert await ahead.login(timestamp=now_ms() + 5000) == {"event": "login"}
    behind = await ws_factory()
    assert await behind.login(timestamp=now_ms() - 50_000) == {"event": "login"}


def _stale() -> str:
    return str(now_ms() - 61_000)


def _future() -> str:
    return str(now_ms() + 61_000)


LOGIN_FAILURES = {
    "wrong key": (lambda: login_message(key="0" * 32), protocol.WS_KEY_UNKNOWN),
    "empty key": (lambda: login_message(key=""), protocol.WS_KEY_EMPTY),
    "wrong sign": (lambda: login_message(sign="ab" * 32), protocol.WS_SIGN_WRONG),
    "sign with wrong secret": (lambda: login_message(
        sign=signing.ws_login_sign("not-the-secret", DEMO_ACCOUNT.memo, "1")),
        protocol.WS_SIGN_WRONG),
    "empty sign": (lambda: login_message(sign=""), protocol.WS_SIGN_EMPTY),
    "stale timestamp": (lambda: login_message(stamp=_stale()), protocol.WS_TIMESTAMP_RANGE),
    "future timestamp": (lambda: login_message(stamp=_future()), protocol.WS_TIMESTAMP_RANGE),
    "timestamp in seconds": (lambda: login_message(stamp=str(now_ms() // 1000)),
                             protocol.WS_TIMESTAMP_RANGE),
    "float timestamp": (lambda: login_message(stamp=f"{time.time():.3f}"), "91023"),
    "alpha timestamp": (lambda: login_message(stamp="yesterday"), "91023"),
    "non-ascii digits": (lambda: login_message(stamp=str(now_ms()).translate(
        str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664"
                                    "\u0665\u0666\u0667\u0668\u0669"))), "91023"),
    "empty timestamp": (lambda: login_message(stamp=""), "91021"),
    "two args": (lambda: {"op": "login", "args": login_message()["args"][:2]}, "90003"),
    "four args": (lambda: {"op": "login", "args": [*login_message()["args"], "x"]}, "90003"),
    "args not a list": (lambda: {"op": "login", "args": "key,stamp,sign"}, "90003"),
    "numeric timestamp": (lambda: {"op": "login", "args": [
        DEMO_ACCOUNT.api_key, now_ms(), "sign"]}, "90003"),
}


@pytest.mark.parametrize("case", list(LOGIN_FAILURES), ids=list(LOGIN_FAILURES))
async def test_login_failure_answers_then_closes(ws_factory: Factory, case: str) -> None:
    make, code = LOGIN_FAILURES[case]
    c = await ws_factory()
    await c.send(make())
    reply = await c.recv()
    assert reply["event"] == "login"
    assert reply["errorCode"] == code  # a string, as in the docs' examples
    assert isinstance(reply["errorMessage"], str) and reply["errorMessage"]
    assert isinstance(c.raw[-1], str)
    await expect_closed(c)


async def test_failed_login_is_counted(ws_factory: Factory, control: httpx.AsyncClient
                                       ) -> None:
    c = await ws_factory()
    await c.send(login_message(sign="00" * 32))
    assert (await c.recv())["errorCode"] == protocol.WS_SIGN_WRONG
    stats = (await control.get("/stats")).json()
    assert stats["counters"]["ws_login_failed"] == 1
    await expect_closed(c)


async def test_second_login_is_refused_but_keeps_the_connection(conn: WS) -> None:
    reply = await conn.login()
    assert reply["event"] == "login"
    assert reply["errorCode"] == "91005"
    await conn.send("ping")
    assert await conn.recv() == "pong"
    assert await conn.subscribe(BTC) == [{"event": "subscribe", "topic": BTC}]


# -- subscribe / unsubscribe --------------------------------------------------------------


async def test_subscribe_before_login_is_refused(ws_factory: Factory,
                                                 control: httpx.AsyncClient) -> None:
    c = await ws_factory()
    await c.send(protocol.subscribe_request([BTC]))
    reply = await c.recv()
    assert reply["event"] == "subscribe"
    assert reply["errorCode"] == "91006"
    await place(control)
    await expect_quiet(c)  # nothing was subscribed


async def test_subscribe_acks_each_topic(conn: WS) -> None:
    assert await conn.subscribe(BTC) == [{"event": "subscribe", "topic": BTC}]
    assert await conn.subscribe(ALL) == [{"event": "subscribe", "topic": ALL}]
    assert all(isinstance(frame, str) for frame in conn.raw)  # acks are text


async def test_multi_topic_subscribe_acks_one_per_topic(conn: WS) -> None:
    topics = [BTC, ETH, protocol.order_topic("BMX_ETH")]
    await conn.send(protocol.subscribe_request(topics))
    acks = [await conn.recv() for _ in topics]
    assert acks == [{"event": "subscribe", "topic": t} for t in topics]
    await expect_quiet(conn)


async def test_no_snapshot_after_subscribe(ws_factory: Factory,
                                           control: httpx.AsyncClient) -> None:
    await place(control)
    await place(control, symbol="ETH_USDT", price="2900", size="1")
    assert (await control.get("/truth", params={"open": "1"})).json()["orders"]
    c = await subscribed(ws_factory, BTC, ALL)
    await expect_quiet(c)


@pytest.mark.parametrize("topic", [
    "spot/user/trade:BTC_USDT",
    "spot/user/order",
    "spot/user/order:",
    "spot/user/orders:BTC_USDT",
    "spot/user/balance:BALANCE_UPDATE",
    "",
])
async def test_invalid_channel(conn: WS, topic: str) -> None:
    await conn.send(protocol.subscribe_request([topic]))
    reply = await conn.recv()
    assert reply["event"] == "subscribe"
    assert reply["errorCode"] == "90004"


@pytest.mark.parametrize("symbol", ["FOO_BAR", "btc_usdt", "ALL_SYMBOLS"])
async def test_unknown_symbol(conn: WS, symbol: str) -> None:
    await conn.send(protocol.subscribe_request([protocol.order_topic(symbol)]))
    reply = await conn.recv()
    assert reply["event"] == "subscribe"
    assert reply["errorCode"] == "92001"


async def test_duplicate_subscription(conn: WS) -> None:
    assert await conn.subscribe(BTC) == [{"event": "subscribe", "topic": BTC}]
    await conn.send(protocol.subscribe_request([BTC]))
    reply = await conn.recv()
    assert (reply["event"], reply["errorCode"]) == ("subscribe", "90008")
    # The same topic twice in one message: an ack, then the duplicate error.
    await conn.send(protocol.subscribe_request([ALL, ALL]))
    assert await conn.recv() == {"event": "subscribe", "topic": ALL}
    assert (await conn.recv())["errorCode"] == "90008"


MANY_SYMBOLS = tuple(SymbolSpec(f"C{i:03d}_USDT", Decimal(1)) for i in range(101))
MANY_TOPICS = [protocol.order_topic(s.name) for s in MANY_SYMBOLS]


async def expect_over_limit(c: WS, code: str) -> None:
    """The error event, then the close: "exceeding -> disconnect", as documented."""
    reply = await c.recv()
    assert (reply["event"], reply["errorCode"]) == ("subscribe", code), reply
    closed = await expect_closed(c)
    assert closed.rcvd is not None and closed.rcvd.code == 1008


@with_settings(symbols=MANY_SYMBOLS)
async def test_more_than_20_topics_in_one_subscribe_disconnects(ws_factory: Factory) -> None:
    within = await ws_factory()
    assert await within.login() == {"event": "login"}
    assert await within.subscribe(*MANY_TOPICS[:20]) == [
        {"event": "subscribe", "topic": t} for t in MANY_TOPICS[:20]]
    over = await ws_factory()
    assert await over.login() == {"event": "login"}
    await over.send(protocol.subscribe_request(MANY_TOPICS[:21]))
    await expect_over_limit(over, protocol.WS_TOO_MANY_TOPICS_PER_SUBSCRIBE)
    assert len(over.raw) == 2  # the login ack and the error: not one topic was acked
    await within.send("ping")  # the other connection is not touched
    assert await within.recv() == "pong"


@with_settings(symbols=MANY_SYMBOLS)
async def test_more_than_100_topics_per_connection_disconnects(
        ws_factory: Factory, sim: Running) -> None:
    c = await ws_factory()
    assert await c.login() == {"event": "login"}
    for start in range(0, 80, 20):
        assert await c.subscribe(*MANY_TOPICS[start:start + 20]) == [
            {"event": "subscribe", "topic": t} for t in MANY_TOPICS[start:start + 20]]
    # The limit counts the topics held, not those ever asked for.
    await c.send(protocol.subscribe_request([MANY_TOPICS[0]], protocol.UNSUBSCRIBE))
    assert await c.recv() == {"event": "unsubscribe", "topic": MANY_TOPICS[0]}
    assert await c.subscribe(*MANY_TOPICS[80:100]) == [
        {"event": "subscribe", "topic": t} for t in MANY_TOPICS[80:100]]
    # 99 held: of the next two, the first is the 100th and acked, the second is refused.
    await c.send(protocol.subscribe_request([MANY_TOPICS[100], MANY_TOPICS[0]]))
    assert await c.recv() == {"event": "subscribe", "topic": MANY_TOPICS[100]}
    await expect_over_limit(c, protocol.WS_TOO_MANY_TOPICS)
    assert sim.sim.stats["ws_closed_over_a_subscription_limit"] == 1


@with_settings(symbols=MANY_SYMBOLS)
async def test_all_symbols_is_one_topic_of_the_hundred(ws_factory: Factory) -> None:
    c = await subscribed(ws_factory, ALL, *MANY_TOPICS[:19])
    for start in range(19, 99, 20):
        assert await c.subscribe(*MANY_TOPICS[start:start + 20]) == [
            {"event": "subscribe", "topic": t} for t in MANY_TOPICS[start:start + 20]]
    await c.send(protocol.subscribe_request([MANY_TOPICS[99]]))
    await expect_over_limit(c, protocol.WS_TOO_MANY_TOPICS)


async def test_args_over_4096_bytes_disconnect(conn: WS) -> None:
    long_topic = "spot/user/order:" + "X" * 2100
    await conn.send(protocol.subscribe_request([long_topic, long_topic + "Y"]))
    reply = await conn.recv()
    assert (reply["event"], reply["errorCode"]) == ("subscribe", "90003")
    closed = await expect_closed(conn)  # refused as a whole, no per-topic answers
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    assert len(conn.raw) == 2


async def test_bad_messages_get_error_events(conn: WS) -> None:
    await conn.send("not json")
    assert (await conn.recv())["errorCode"] == "90001"
    await conn.send({"op": "fly", "args": []})
    assert (await conn.recv())["errorCode"] == "90002"
    await conn.send({"op": "subscribe", "args": BTC})
    assert (await conn.recv())["errorCode"] == "90003"
    await conn.send("ping")
    assert await conn.recv() == "pong"  # none of them closed the connection


async def test_unsubscribe_acks_and_stops_pushes(ws_factory: Factory,
                                                 control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    await place(control)
    assert len(await c.pushes(1)) == 1
    await c.send(protocol.subscribe_request([BTC], protocol.UNSUBSCRIBE))
    assert await c.recv() == {"event": "unsubscribe", "topic": BTC}
    assert isinstance(c.raw[-1], str)
    order = await place(control)
    await cancel(control, order["orderId"])
    await expect_quiet(c)
    await c.send(protocol.subscribe_request([BTC], protocol.UNSUBSCRIBE))
    assert (await c.recv())["errorCode"] == "90009"  # no longer subscribed


# -- pushes -------------------------------------------------------------------------------


FILL_ONLY = {"exec_type", "detail_id"}
ALWAYS = {"symbol", "side", "type", "notional", "size", "ms_t", "price", "filled_notional",
          "filled_size", "margin_trading", "state", "order_id", "order_type",
          "last_fill_time", "last_fill_price", "last_fill_count", "client_order_id",
          "create_time", "update_time", "order_mode", "entrust_type", "order_state",
          "dealFee"}


def check_row(row: dict[str, Any]) -> None:
    """The rules every pushed order row obeys (protocol §3.4)."""
    assert all(isinstance(v, str) for v in row.values()), row
    assert set(row) >= ALWAYS, ALWAYS - set(row)
    assert row["ms_t"] == row["create_time"]
    assert protocol.LEGACY_STATE[row["state"]] == row["order_state"]
    is_fill = row["last_fill_time"] != "0"
    if is_fill:
        assert set(row) >= FILL_ONLY
        assert row["exec_type"] in ("M", "T")
        assert row["detail_id"]
        assert row["last_fill_time"] == row["update_time"]
    else:
        assert not FILL_ONLY & set(row), row
        assert (row["last_fill_price"], row["last_fill_count"], row["dealFee"]) == ("0",) * 3


def check_history(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        check_row(row)
    assert len({r["order_id"] for r in rows}) == 1
    assert len({r["create_time"] for r in rows}) == 1
    times = [int(r["update_time"]) for r in rows]
    assert times == sorted(set(times)), times  # strictly increasing
    filled = [float(r["filled_size"]) for r in rows]
    assert filled == sorted(filled)  # cumulative, never backwards


async def test_push_tables_follow_the_subscription(ws_factory: Factory,
                                                   control: httpx.AsyncClient) -> None:
    one = await subscribed(ws_factory, BTC)
    every = await subscribed(ws_factory, ALL)
    await place(control)
    message = await one.recv()
    assert message["table"] == protocol.ORDER_TABLE
    message = await every.recv()
    assert message["table"] == protocol.ALL_ORDERS_TABLE
    assert isinstance(message["data"], list) and len(message["data"]) == 1


async def test_per_symbol_subscription_gets_only_that_symbol(
        ws_factory: Factory, control: httpx.AsyncClient) -> None:
    btc = await subscribed(ws_factory, BTC)
    every = await subscribed(ws_factory, ALL)
    eth = await place(control, symbol="ETH_USDT", price="2900", size="1")
    mine = await place(control)
    assert (await btc.pushes(1))[0]["order_id"] == mine["orderId"]
    await expect_quiet(btc)
    rows = await every.pushes(2)
    assert [r["order_id"] for r in rows] == [eth["orderId"], mine["orderId"]]
    assert [r["symbol"] for r in rows] == ["ETH_USDT", "BTC_USDT"]


async def test_new_push_fields(ws_factory: Factory, control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    order = await place(control, price="50000", size="0.1", side="sell")
    (row,) = await c.pushes(1)
    check_row(row)
    assert row["order_id"] == order["orderId"]
    assert (row["symbol"], row["side"], row["type"]) == ("BTC_USDT", "sell", "limit")
    assert (row["order_state"], row["state"]) == ("new", "4")
    assert row["client_order_id"] == "0"  # none was given
    assert row["create_time"] == str(order["createTime"])
    assert row["update_time"] == str(order["updateTime"])
    assert row["ms_t"] == str(order["createTime"])
    assert float(row["price"]) == 50000 and float(row["size"]) == 0.1
    assert float(row["notional"]) == pytest.approx(5000)  # price x size on `new`
    assert float(row["filled_size"]) == 0 and float(row["filled_notional"]) == 0
    assert row["last_fill_time"] == "0"
    assert row["dealFee"] == "0"


async def test_client_order_id_is_echoed(ws_factory: Factory,
                                         control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, ALL)
    await place(control, client_order_id="myOrder42")
    (row,) = await c.pushes(1)
    assert row["client_order_id"] == "myOrder42"


async def test_lifecycle_limit_new_then_canceled(ws_factory: Factory,
                                                 control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    order = await place(control)
    await cancel(control, order["orderId"])
    rows = await c.pushes(2)
    check_history(rows)
    assert [(r["state"], r["order_state"]) for r in rows] == [("4", "new"), ("8", "canceled")]
    assert float(rows[0]["notional"]) == pytest.approx(5000)
    assert rows[1]["notional"] == ""
    assert rows[1]["last_fill_price"] == rows[1]["last_fill_count"] == "0"
    assert float(rows[1]["filled_size"]) == 0
    await expect_quiet(c)


async def test_lifecycle_limit_filled_in_one_push(ws_factory: Factory,
                                                  control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    order = await place(control, price="50000", size="0.1")
    await fill(control, order["orderId"])
    rows = await c.pushes(2)
    check_history(rows)
    new, done = rows
    assert (new["state"], new["order_state"]) == ("4", "new")
    assert (done["state"], done["order_state"]) == ("6", "filled")
    assert done["exec_type"] == "M"
    assert float(done["filled_size"]) == float(done["size"]) == 0.1
    assert float(done["last_fill_count"]) == 0.1
    assert float(done["last_fill_price"]) == 50000
    assert float(done["filled_notional"]) == pytest.approx(5000)
    assert float(done["dealFee"]) == pytest.approx(5)
    assert done["notional"] == ""
    await expect_quiet(c)  # no separate trade push


async def test_lifecycle_market_buy(ws_factory: Factory, control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, ALL)
    order = await place(control, type="market", side="buy", notional="100")
    rows = await c.pushes(3)
    check_history(rows)
    assert [r["order_id"] for r in rows] == [order["orderId"]] * 3
    assert [(r["state"], r["order_state"]) for r in rows] == [
        ("4", "new"), ("5", "partially_filled"), ("12", "partially_canceled")]
    new, part, end = rows
    assert all(r["type"] == "market" for r in rows)
    assert float(new["price"]) == 0 and float(new["size"]) == 0
    assert all(float(r["notional"]) == 100 for r in rows)  # market buy: on every push
    assert part["exec_type"] == "T"
    assert float(part["last_fill_count"]) > 0
    assert float(part["filled_size"]) == float(part["last_fill_count"])
    assert float(part["dealFee"]) > 0
    # The terminal push resets the fill fields but keeps the cumulative amounts.
    assert "detail_id" not in end and "exec_type" not in end
    assert end["last_fill_count"] == end["dealFee"] == "0"
    assert end["filled_size"] == part["filled_size"]
    assert end["filled_notional"] == part["filled_notional"]
    assert 0 < float(end["filled_notional"]) <= 100
    await expect_quiet(c)


async def test_lifecycle_market_sell_fills(ws_factory: Factory,
                                           control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    await place(control, type="market", side="sell", size="0.01")
    rows = await c.pushes(2)
    check_history(rows)
    assert [r["order_state"] for r in rows] == ["new", "filled"]
    assert rows[1]["exec_type"] == "T"
    assert float(rows[1]["filled_size"]) == 0.01
    assert all(r["notional"] == "" for r in rows)  # notional only for market buys


async def test_lifecycle_partial_fill_then_fill(ws_factory: Factory,
                                                control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    order = await place(control, price="50000", size="0.1")
    await fill(control, order["orderId"], "0.04")
    await fill(control, order["orderId"], "0.03")
    await fill(control, order["orderId"])
    rows = await c.pushes(4)
    check_history(rows)
    assert [(r["state"], r["order_state"]) for r in rows] == [
        ("4", "new"), ("5", "partially_filled"), ("5", "partially_filled"), ("6", "filled")]
    assert [float(r["filled_size"]) for r in rows] == [0, 0.04, 0.07, 0.1]
    assert [float(r["last_fill_count"]) for r in rows[1:]] == [0.04, 0.03, 0.03]
    # dealFee is this fill's fee, not the running total.
    assert [float(r["dealFee"]) for r in rows[1:]] == pytest.approx([2, 1.5, 1.5])
    assert [float(r["filled_notional"]) for r in rows] == pytest.approx([0, 2000, 3500, 5000])
    detail_ids = [r["detail_id"] for r in rows[1:]]
    assert len(set(detail_ids)) == 3  # one trade id per fill
    assert [r["notional"] for r in rows[1:]] == ["", "", ""]


async def test_lifecycle_partial_fill_then_cancel(ws_factory: Factory,
                                                  control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    order = await place(control, price="50000", size="0.1")
    await fill(control, order["orderId"], "0.02")
    await cancel(control, order["orderId"])
    rows = await c.pushes(3)
    check_history(rows)
    assert [r["state"] for r in rows] == ["4", "5", "12"]
    assert rows[2]["order_state"] == "partially_canceled"
    assert float(rows[2]["filled_size"]) == 0.02


async def test_pushes_follow_order_flow(ws_factory: Factory,
                                        control: httpx.AsyncClient) -> None:
    """Random generator traffic: every push obeys the row rules, per order in time order."""
    c = await subscribed(ws_factory, ALL)
    response = await control.post("/populate", json={"per_symbol": 3})
    assert response.status_code == 200
    await c.pushes(9)
    response = await control.patch("/flow", json={"rate": 400})
    assert response.status_code == 200
    rows = await c.pushes(60)
    await control.patch("/flow", json={"rate": 0})
    by_order: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_order.setdefault(row["order_id"], []).append(row)
    for history in by_order.values():
        check_history(history)


# -- framing ------------------------------------------------------------------------------


async def test_pushes_are_raw_deflate_binary_frames(ws_factory: Factory,
                                                    control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    await c.send("ping")
    assert await c.recv() == "pong"
    assert all(isinstance(frame, str) for frame in c.raw)  # login ack, sub ack, pong
    order = await place(control)
    frame = await asyncio.wait_for(c.conn.recv(), 2)
    assert isinstance(frame, bytes)
    message = json.loads(zlib.decompress(frame, -zlib.MAX_WBITS))  # by zlib, not protocol
    assert message["table"] == protocol.ORDER_TABLE
    assert message["data"][0]["order_id"] == order["orderId"]
    with pytest.raises(zlib.error):
        zlib.decompress(frame)  # no zlib header: raw DEFLATE
    with pytest.raises(UnicodeDecodeError):
        frame.decode()


@with_settings(compress=False)
async def test_pushes_are_text_without_compression(ws_factory: Factory,
                                                   control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    order = await place(control)
    frame = await asyncio.wait_for(c.conn.recv(), 2)
    assert isinstance(frame, str)
    message = json.loads(frame)
    assert message["table"] == protocol.ORDER_TABLE
    assert message["data"][0]["order_id"] == order["orderId"]


# -- keep-alive ---------------------------------------------------------------------------


async def test_text_ping_gets_text_pong(ws_factory: Factory) -> None:
    c = await ws_factory()  # works before login too
    for _ in range(3):
        await c.send("ping")
        assert await c.recv() == "pong"
    assert c.raw == ["pong"] * 3


IDLE_S = 0.3


@with_settings(ws_idle_timeout_s=IDLE_S)
async def test_idle_connection_is_dropped(ws_factory: Factory) -> None:
    c = await subscribed(ws_factory, BTC)
    started = time.monotonic()
    closed = await expect_closed(c, within=2.0)
    elapsed = time.monotonic() - started
    assert IDLE_S * 0.7 <= elapsed < IDLE_S + 0.5, elapsed
    assert closed.rcvd is not None  # a clean close, with a close frame


@with_settings(ws_idle_timeout_s=IDLE_S)
async def test_pinging_keeps_the_connection(ws_factory: Factory) -> None:
    c = await subscribed(ws_factory, BTC)
    for _ in range(5):  # 0.75 s in all, over twice the idle timeout
        await asyncio.sleep(0.15)
        await c.send("ping")
        assert await c.recv() == "pong"
    await expect_closed(c, within=2.0)  # and once it stops, it is dropped


@with_settings(ws_idle_timeout_s=IDLE_S)
async def test_ping_frames_keep_the_connection(ws_factory: Factory) -> None:
    c = await subscribed(ws_factory, BTC)
    for _ in range(5):
        await asyncio.sleep(0.15)
        await asyncio.wait_for(await c.conn.ping(), 1)  # answered with a pong frame
    await expect_closed(c, within=2.0)


@with_settings(ws_lifeless_s=IDLE_S)
async def test_connection_without_subscription_is_closed(ws_factory: Factory) -> None:
    idle = await ws_factory()
    assert await idle.login() == {"event": "login"}
    busy = await subscribed(ws_factory, BTC)
    started = time.monotonic()

    async def keep_pinging(c: WS) -> None:
        while time.monotonic() - started < IDLE_S * 2.5:
            await c.send("ping")
            assert await c.recv() == "pong"
            await asyncio.sleep(0.05)

    with pytest.raises(websockets.ConnectionClosed):
        await keep_pinging(idle)  # pinging does not save a connection with no topics
    assert time.monotonic() - started < IDLE_S * 2
    await keep_pinging(busy)  # a subscribed one outlives the lifeless limit


@with_settings(ws_lifeless_s=IDLE_S)
async def test_ping_frames_do_not_save_a_lifeless_connection(ws_factory: Factory) -> None:
    c = await ws_factory()
    started = time.monotonic()
    with pytest.raises(websockets.ConnectionClosed):
        while time.monotonic() - started < 2:
            await asyncio.wait_for(await c.conn.ping(), 1)
            await asyncio.sleep(0.05)
    assert time.monotonic() - started < IDLE_S * 2


# -- limits -------------------------------------------------------------------------------


async def test_more_than_100_messages_in_10s_disconnects(ws_factory: Factory) -> None:
    c = await ws_factory()
    for _ in range(100):
        await c.send("ping")
    assert [await c.recv() for _ in range(100)] == ["pong"] * 100
    await c.send("ping")  # the 101st
    closed = await expect_closed(c)
    assert c.raw.count("pong") == 100  # the 101st was not answered
    assert closed.rcvd is not None and closed.rcvd.code == 1008


async def test_ping_frames_count_towards_the_message_limit(ws_factory: Factory) -> None:
    c = await ws_factory()
    for _ in range(60):
        await c.send("ping")
    for _ in range(41):
        await c.conn.ping()
    await expect_closed(c)
    assert c.raw.count("pong") == 60


async def test_eleventh_connection_from_one_ip_is_refused(
        ws_factory: Factory, control: httpx.AsyncClient) -> None:
    first = [await ws_factory() for _ in range(10)]
    extra = await ws_factory()
    reply = await extra.recv()
    assert reply["errorCode"] == protocol.WS_TOO_MANY_CONNECTIONS
    assert isinstance(extra.raw[-1], str)
    await expect_closed(extra)
    for c in first:  # the ten are still served
        await c.send("ping")
        assert await c.recv() == "pong"
    # Closing one frees a slot.
    await first[0].close()
    for _ in range(50):
        stats = (await control.get("/stats")).json()
        if len(stats["connections"]) == 9:
            break
        await asyncio.sleep(0.02)
    again = await ws_factory()
    await again.send("ping")
    assert await again.recv() == "pong"


async def test_more_than_30_connects_a_minute_is_refused(sim: Running) -> None:
    for _ in range(30):
        c = await WS.connect(sim, DEMO_ACCOUNT)
        await c.send("ping")
        assert await c.recv() == "pong"
        await c.close()
    c = await WS.connect(sim, DEMO_ACCOUNT)
    try:
        assert (await c.recv())["errorCode"] == protocol.WS_RECONNECTS_TOO_OFTEN
        await expect_closed(c)
    finally:
        await c.close()


# -- push faults --------------------------------------------------------------------------


async def test_faults_endpoint_shape(control: httpx.AsyncClient) -> None:
    await set_faults(control, push_drop=0.5)
    body = (await control.get("/faults")).json()
    assert body["faults"]["push_drop"] == 0.5
    assert body["injected"] == {}
    response = await control.patch("/faults", json={"push_drop": 2})
    assert response.status_code == 400


async def test_push_drop(ws_factory: Factory, control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    await set_faults(control, push_drop=1.0)
    order = await place(control)
    await cancel(control, order["orderId"])
    await expect_quiet(c)
    assert (await injected(control))["push_drop"] == 2
    await c.send("ping")  # only pushes are dropped
    assert await c.recv() == "pong"
    await set_faults(control, push_drop=0.0)
    order = await place(control)
    assert (await c.pushes(1))[0]["order_id"] == order["orderId"]


async def test_push_duplicate(ws_factory: Factory, control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    await set_faults(control, push_duplicate=1.0)
    order = await place(control)
    await cancel(control, order["orderId"])
    rows = await c.pushes(4)
    assert [r["order_state"] for r in rows] == ["new", "new", "canceled", "canceled"]
    assert rows[0] == rows[1] and rows[2] == rows[3]
    await expect_quiet(c)
    assert (await injected(control))["push_duplicate"] == 2


async def test_push_delay(ws_factory: Factory, control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    await set_faults(control, push_delay_ms=150)
    placed = [(await place(control, price=str(50000 + i)))["orderId"] for i in range(6)]
    rows = await c.pushes(6)
    assert sorted(r["order_id"] for r in rows) == sorted(placed)
    await expect_quiet(c, 0.3)
    assert (await injected(control))["push_delay"] == 6


async def test_push_reorder(ws_factory: Factory, control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    await set_faults(control, push_reorder=1.0)
    first = await place(control)
    second = await place(control)
    rows = await c.pushes(2)
    assert [r["order_id"] for r in rows] == [second["orderId"], first["orderId"]]
    # A held push with nothing after it still goes out.
    third = await place(control)
    assert (await c.pushes(1, within=2))[0]["order_id"] == third["orderId"]
    assert (await injected(control))["push_reorder"] >= 2


async def test_ws_silent(ws_factory: Factory, control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    await set_faults(control, ws_silent=True)
    await c.send("ping")
    await place(control)
    await expect_quiet(c)
    await set_faults(control, ws_silent=False)
    await c.send("ping")
    assert await c.recv() == "pong"  # the silent frames were never sent


async def test_drop_abort_has_no_close_frame(ws_factory: Factory,
                                             control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    response = await control.post("/ws/drop", json={"mode": "abort"})
    assert response.json() == {"dropped": 1}
    with pytest.raises(websockets.ConnectionClosedError) as info:
        await c.recv()
    assert info.value.rcvd is None
    assert c.conn.close_code == 1006
    assert (await injected(control))["ws_abort"] == 1
    for _ in range(50):  # the server forgets the session
        if not (await control.get("/stats")).json()["connections"]:
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("aborted session still listed")


async def test_drop_close_with_code(ws_factory: Factory, control: httpx.AsyncClient) -> None:
    c = await subscribed(ws_factory, BTC)
    response = await control.post("/ws/drop",
                                  json={"mode": "close", "code": 4001, "reason": "bye"})
    assert response.json() == {"dropped": 1}
    with pytest.raises(websockets.ConnectionClosed) as info:
        await c.recv()
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "bye")
    assert c.conn.close_code == 4001
