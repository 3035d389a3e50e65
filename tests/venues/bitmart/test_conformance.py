"""Conformance: clients written by other people against the simulator, over real sockets.

Four clients log in to a freshly started simulator and must read back exactly the orders the
ground truth (`GET /control/truth`) holds:

1. BitMart's official Python SDK, REST (`bitmart.api_spot.APISpot`);
2. the same SDK's private WebSocket client (`SpotSocketClient`), run in worker threads;
3. ccxt REST (`ccxt.async_support.bitmart`, 4.5.70: the last release with BitMart);
4. ccxt.pro (`ccxt.pro.bitmart.watch_orders`), per symbol and ALL_SYMBOLS.

Orders are driven through the control API. Where a client and the protocol notes disagree,
the simulator follows the notes and the test pins the client's quirk instead.

Findings
--------
- SDK REST: `v4_query_open_orders` sends `startTime`/`endTime` only when truthy, so with no
  `start_time` the exchange's 7-day default window applies and an open order older than 7
  days is silently missing; `start_time=0` is dropped too and behaves exactly like "no start
  time". A seed must pass an explicit, wide, non-zero `start_time` (or page by `end_time`).
- SDK REST: `v4_query_order_by_id(order_id, query_state)` makes `query_state` a required
  positional argument although the API field is optional; `None` leaves `queryState` out.
- SDK REST: every call returns `(body, rate_limit)`, the second being the `X-BM-RateLimit-*`
  headers without the prefix (`Remaining` = calls used so far in the window); a non-200
  answer raises `APIException` carrying only the HTTP status and the raw text.
- SDK WebSocket: `stream_url` defaults to the public socket, so the private URL must be
  passed. The constructor connects at once, starts a non-daemon reader thread and a
  non-daemon, self-re-arming `threading.Timer` that sends text `ping` immediately and then
  every `ping_interval` s: a process that used the client never exits unless the timer is
  replaced (see `StoppableSpotSocketClient`). `login(timeout=5)` sleeps `timeout` instead of
  waiting for the `{"event":"login"}` ack; `stop()` joins the reader with no time limit.
- SDK WebSocket: `on_message` gets every frame `json.loads`-ed (acks and pushes alike; text
  `pong` is swallowed); binary frames are raw-inflated first, so raw-DEFLATE and `--plain`
  pushes read the same. A connection subscribed to `spot/user/order:<SYM>` and
  `spot/user/orders:ALL_SYMBOLS` gets each change once per topic, told apart by `table`.
- ccxt REST: the memo goes in `uid`; both `urls.api.spot` and `urls.api.swap` must point at the
  simulator: ccxt sends every path not under `spot/` or `account/` (`contract/...`, which
  `load_markets` reads, and `system/time`) to the `swap` host.
  `load_markets` makes three public GETs whose rate-limit costs stall about 1.2 s with the
  default throttle, so these tests pass `enableRateLimit: False`.
- ccxt REST: `fetch_open_orders(symbol)` sends no `startTime`, so it sees only the 7-day default
  window; `since=` becomes `startTime` and brings older open orders back.
- ccxt REST: `fetch_order` maps `partially_canceled` to `canceled` -- also for a market buy,
  which on BitMart always ends `partially_canceled` after filling what it could (hummingbot
  maps that case to FILLED); a tracker must look at `filled`, not only `status`. `amount` of a
  market buy is None (its `size` is "0", dropped by ccxt's `omit_zero`). `clientOrderId`
  echoes the order id when none was given, as the REST face does.
- ccxt.pro: push status is mapped only from the legacy numeric `state`, so `partially_canceled`
  (state "12": a cancel after a partial fill, and every market buy) comes back raw as "12".
- ccxt.pro: `clientOrderId` is read from `clientOid`, a field pushes do not have, so it is
  always None (the push carries `client_order_id`); `timestamp` is None and
  `lastTradeTimestamp` is `ms_t`, which is the order's creation time, not a trade time.
- ccxt.pro: `watch_orders` returns only the rows of the one push that resolved the pending
  wait; pushes handled while no wait is pending (a market buy's fill and final cancel arrive
  back to back) reach only the `exchange.orders` cache, which is where the full, last-write-
  wins state lives. A row handed out for an order's first push is the cache's own dict, so
  later pushes for that order change it in place after it was returned.
- ccxt.pro: keep-alive is a protocol PING frame every `streaming.keepAlive` ms (15 s by
  default), not text `ping`; the simulator answers with a PONG frame and counts the ping as
  traffic, so the connection outlives the idle timeout, while one that sends nothing is
  closed as idle. ccxt.pro also offers permessage-deflate; the simulator's aiohttp server
  currently accepts it (whether BitMart does is not documented, protocol §7.6), and pushes
  are still raw-DEFLATE binary messages inside it. Not asserted: either answer is valid.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro
import httpx
import pytest
from bitmart.api_spot import APISpot
from bitmart.lib.cloud_exceptions import APIException
from bitmart.websocket.spot_socket_client import SpotSocketClient

from simulator.app import Running
from simulator.state import DEMO_ACCOUNT, Settings
from tests.simclient import now_ms
from tracker.venues.bitmart import protocol

KEY, SECRET, MEMO = DEMO_ACCOUNT.api_key, DEMO_ACCOUNT.secret, DEMO_ACCOUNT.memo
BTC_TOPIC = protocol.order_topic("BTC_USDT")
ALL_TOPIC = protocol.ALL_SYMBOLS
DAY_MS = 24 * 3600 * 1000
WAIT_S = 3.0  # the most any single expected event may take
CALL_S = 10.0  # the most a blocking client call in a worker thread may take
REST_ONLY = frozenset({"fees", "fills"})  # truth fields that are not part of the v4 shape
# What ccxt REST reports for each v4 state, and what ccxt.pro makes of each push.
CCXT_STATUS = {"new": "open", "partially_filled": "open", "filled": "closed",
               "canceled": "canceled", "partially_canceled": "canceled"}
CCXT_PRO_STATUS = CCXT_STATUS | {"partially_canceled": "12"}  # quirk: raw legacy state


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    """Port 0; a test changes fields with `@pytest.mark.parametrize("settings", [{...}],
    indirect=True)`."""
    return Settings(port=0, **getattr(request, "param", {}))


# -- driving orders ------------------------------------------------------------------------

# (order name, action, body): each lifecycle the trackers must get right. The ETH_USDT steps
# come last, so a per-symbol BTC_USDT watcher can be shown to stay silent through them.
STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("open", "place", {"symbol": "BTC_USDT", "side": "buy", "price": "50000", "size": "0.1",
                       "client_order_id": "confOpen1"}),
    ("partial", "place", {"symbol": "BTC_USDT", "side": "sell", "price": "61000",
                          "size": "0.2"}),
    ("partial", "fill", {"size": "0.05"}),
    ("filled", "place", {"symbol": "BTC_USDT", "side": "buy", "price": "59000", "size": "0.3",
                         "client_order_id": "confFilled1"}),
    ("filled", "fill", {}),
    ("canceled", "place", {"symbol": "BTC_USDT", "side": "buy", "price": "58000",
                           "size": "0.1"}),
    ("canceled", "cancel", {}),
    ("partially_canceled", "place", {"symbol": "BTC_USDT", "side": "sell", "price": "62000",
                                     "size": "0.5"}),
    ("partially_canceled", "fill", {"size": "0.1"}),
    ("partially_canceled", "cancel", {}),
    ("market_buy", "place", {"type": "market", "symbol": "BTC_USDT", "side": "buy",
                             "notional": "100"}),
    ("eth_open", "place", {"symbol": "ETH_USDT", "side": "buy", "price": "2900",
                           "size": "1.5"}),
    ("eth_market_sell", "place", {"type": "market", "symbol": "ETH_USDT", "side": "sell",
                                  "size": "0.5"}),
]
# The true final state of each lifecycle, as the protocol notes have it.
FINAL_STATE = {"open": "new", "partial": "partially_filled", "filled": "filled",
               "canceled": "canceled", "partially_canceled": "partially_canceled",
               "market_buy": "partially_canceled", "eth_open": "new",
               "eth_market_sell": "filled"}
CLIENT_IDS = {name: body["client_order_id"] for name, action, body in STEPS
              if "client_order_id" in body}


async def run_step(control: httpx.AsyncClient, ids: dict[str, str],
                   step: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    """Apply one step through the control API; return the order's truth row after it."""
    name, action, body = step
    if action == "place":
        response = await control.post("/orders", json=body)
    else:
        response = await control.post(f"/orders/{ids[name]}/{action}", json=body)
    assert response.status_code == 200, response.text
    row = response.json()
    ids.setdefault(name, row["orderId"])
    return row


async def drive(control: httpx.AsyncClient) -> dict[str, str]:
    """Run every lifecycle; return order name -> order id."""
    ids: dict[str, str] = {}
    for step in STEPS:
        await run_step(control, ids, step)
    return ids


async def truth(control: httpx.AsyncClient, *, open_only: bool = False,
                symbol: str | None = None) -> dict[str, dict[str, Any]]:
    params = {"open": "1"} if open_only else {}
    if symbol is not None:
        params["symbol"] = symbol
    response = await control.get("/truth", params=params)
    assert response.status_code == 200, response.text
    return {row["orderId"]: row for row in response.json()["orders"]}


async def driven_truth(control: httpx.AsyncClient, ids: dict[str, str]
                       ) -> dict[str, dict[str, Any]]:
    """Truth rows of the driven orders by name, checked against the intended end states."""
    rows = await truth(control)
    named = {name: rows[order_id] for name, order_id in ids.items()}
    assert {name: row["state"] for name, row in named.items()} == FINAL_STATE
    return named


def v4_shape(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in REST_ONLY}


async def age(sim: Running, order_id: str, days: float) -> None:
    """Move an order's creation time `days` into the past (in-process, no wire change)."""
    order = sim.sim.store.orders[order_id]
    order.create_time -= int(days * DAY_MS)


async def until(predicate: Callable[[], bool], within: float = WAIT_S) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking client call in a worker thread, bounded in time."""
    return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), CALL_S)


async def stats(control: httpx.AsyncClient) -> dict[str, Any]:
    response = await control.get("/stats")
    assert response.status_code == 200, response.text
    return response.json()


async def wait_subscribed(control: httpx.AsyncClient, topic: str, connections: int = 1,
                          watcher: asyncio.Task[Any] | None = None) -> None:
    """Wait until `connections` logged-in connections hold `topic` on the simulator."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        if watcher is not None and watcher.done():
            watcher.result()  # surfaces the client's error
            pytest.fail("the watch ended before the subscription was seen")
        sessions = (await stats(control))["connections"]
        held = [s for s in sessions if s["logged_in"] and topic in s["topics"]]
        if len(held) >= connections:
            return
        assert loop.time() < deadline, f"{topic} not subscribed: {sessions}"
        await asyncio.sleep(0.02)


# -- 1. official SDK, REST -----------------------------------------------------------------


def sdk_rest(sim: Running) -> APISpot:
    return APISpot(api_key=KEY, secret_key=SECRET, memo=MEMO, url=sim.rest_url, timeout=(2, 5))


async def test_sdk_rest_open_orders_equal_truth(sim: Running, control: httpx.AsyncClient
                                                ) -> None:
    populated = await control.post("/populate", json={"per_symbol": 3})
    assert populated.status_code == 200, populated.text
    await drive(control)
    api = sdk_rest(sim)
    wide = now_ms() - 365 * DAY_MS
    for symbol in ("BTC_USDT", "ETH_USDT"):
        body, limits = await blocking(api.v4_query_open_orders, symbol=symbol, start_time=wide)
        assert body["code"] == 1000, body
        assert limits["Limit"] == "12" and limits["Mode"] in ("IP", "UID")
        expected = await truth(control, open_only=True, symbol=symbol)
        rows = body["data"]
        # Exactly the open set: same ids, states, sizes, filled sizes (every v4 field).
        assert {r["orderId"]: r for r in rows} == {i: v4_shape(t) for i, t in expected.items()}
        assert all(r["state"] in ("new", "partially_filled") for r in rows)
        assert len(rows) == len(expected) >= 4
        # Newest first, as the simulator documents.
        stamps = [(r["createTime"], int(r["orderId"])) for r in rows]
        assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("settings", [{"amounts": "minimal"}, {"amounts": "padded"}],
                         indirect=True, ids=["minimal", "padded"])
async def test_sdk_rest_query_order_by_id_agrees_with_truth(
        sim: Running, control: httpx.AsyncClient, settings: Settings) -> None:
    ids = await drive(control)
    named = await driven_truth(control, ids)
    api = sdk_rest(sim)
    for name, row in named.items():
        body, _ = await blocking(api.v4_query_order_by_id, ids[name], None)
        assert body["code"] == 1000, body
        assert body["data"] == v4_shape(row), name
    filled_sizes = {"minimal": ("0", "0.05", "0.3"),  # as the live exchange writes them
                    "padded": ("0.00000", "0.05000", "0.30000")}[settings.amounts]
    none, part, whole = filled_sizes
    for name in ("open", "partial", "filled", "canceled"):
        data = v4_shape(named[name])
        assert (data["state"], data["filledSize"]) == {
            "open": ("new", none), "partial": ("partially_filled", part),
            "filled": ("filled", whole), "canceled": ("canceled", none)}[name]
    # Client ids: the one given, or the order id echoed (protocol §2.6).
    assert named["open"]["clientOrderId"] == "confOpen1"
    assert named["canceled"]["clientOrderId"] == ids["canceled"]
    # queryState narrows the search; a miss is an HTTP 400 the SDK raises as APIException.
    body, _ = await blocking(api.v4_query_order_by_id, ids["filled"], "history")
    assert body["data"]["state"] == "filled"
    with pytest.raises(APIException) as info:
        await blocking(api.v4_query_order_by_id, ids["filled"], "open")
    assert info.value.status_code == 400 and '"code": 50005' in info.value.response


async def test_sdk_rest_seven_day_default_window_is_faithful(
        sim: Running, control: httpx.AsyncClient) -> None:
    ids = await drive(control)
    old = ids["open"]
    await age(sim, old, days=8)
    api = sdk_rest(sim)
    open_truth = await truth(control, open_only=True, symbol="BTC_USDT")
    assert old in open_truth  # still open: only its creation time moved

    body, _ = await blocking(api.v4_query_open_orders, symbol="BTC_USDT")
    assert {r["orderId"] for r in body["data"]} == set(open_truth) - {old}
    # start_time=0 is falsy: the SDK drops it, and the default window applies again.
    body, _ = await blocking(api.v4_query_open_orders, symbol="BTC_USDT", start_time=0)
    assert {r["orderId"] for r in body["data"]} == set(open_truth) - {old}

    wide = now_ms() - 30 * DAY_MS
    body, _ = await blocking(api.v4_query_open_orders, symbol="BTC_USDT", start_time=wide)
    assert {r["orderId"]: r for r in body["data"]} == {
        i: v4_shape(t) for i, t in open_truth.items()}


# -- 2. official SDK, private WebSocket ----------------------------------------------------


class StoppableSpotSocketClient(SpotSocketClient):  # type: ignore[misc]
    """The SDK's client with a ping timer that is a daemon and ends on `stop()`.

    `SpotSocketClient.start_send_ping` re-arms a non-daemon `threading.Timer` forever, and
    `stop()` joins the reader thread without a time limit; either would hang the test run.
    """

    _ping_stopped = False

    def start_send_ping(self) -> None:
        if self._ping_stopped:
            return
        self.ping()
        timer = threading.Timer(self.ping_interval, self.start_send_ping)
        timer.daemon = True
        timer.start()

    def stop(self) -> None:
        self._ping_stopped = True
        self.reconnection = False  # what the SDK's private __close does, then the close frame
        manager = self.socket_manager
        manager.close()
        manager.join(5)
        if manager.is_alive():  # no close frame came back: cut the socket under the reader
            manager.ws.shutdown()
            manager.join(5)
        assert not manager.is_alive(), "the SDK reader thread did not stop"


def pushes_expected(row: dict[str, Any]) -> int:
    """Pushes one order produces (protocol §3.5): accepted, each fill, and a final cancel."""
    return 1 + row["fills"] + (row["state"] in ("canceled", "partially_canceled"))


def assert_push_is_truth(push: dict[str, str], row: dict[str, Any], client_id: str | None
                         ) -> None:
    """The last push of an order says what the truth says (every value a string)."""
    assert push["order_id"] == row["orderId"]
    assert push["order_state"] == row["state"]
    assert protocol.LEGACY_STATE[push["state"]] == row["state"]
    for push_field, truth_field in (("symbol", "symbol"), ("side", "side"), ("type", "type"),
                                    ("size", "size"), ("price", "price"),
                                    ("filled_size", "filledSize"),
                                    ("filled_notional", "filledNotional")):
        assert push[push_field] == row[truth_field], push_field
    assert push["create_time"] == push["ms_t"] == str(row["createTime"])
    assert push["update_time"] == str(row["updateTime"])
    assert push["client_order_id"] == (client_id or "0")


def rebuild(pushes: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Last write wins per order, in arrival order, checking that nothing goes backwards."""
    book: dict[str, dict[str, str]] = {}
    for push in pushes:
        previous = book.get(push["order_id"])
        if previous is not None:
            assert int(push["update_time"]) > int(previous["update_time"])
            assert float(push["filled_size"]) >= float(previous["filled_size"])
        book[push["order_id"]] = push
    return book


@pytest.mark.parametrize("settings", [{"compress": True}, {"compress": False}],
                         indirect=True, ids=["deflate", "plain"])
async def test_sdk_websocket_pushes_rebuild_truth(sim: Running, control: httpx.AsyncClient
                                                  ) -> None:
    received: queue.Queue[Any] = queue.Queue()
    client = await blocking(
        StoppableSpotSocketClient, stream_url=sim.ws_url, on_message=received.put,
        api_key=KEY, api_secret_key=SECRET, api_memo=MEMO, ping_interval=10, timeout=None)
    messages: list[Any] = []

    async def collect(done: Callable[[], bool]) -> None:
        def drain() -> bool:
            while True:
                try:
                    messages.append(received.get_nowait())
                except queue.Empty:
                    return done()
        await until(drain)

    try:
        await blocking(client.login, timeout=0.5)
        await blocking(client.subscribe, BTC_TOPIC)
        await blocking(client.subscribe, [ALL_TOPIC])
        await collect(lambda: len(messages) >= 3)
        assert messages == [{"event": "login"}, {"event": "subscribe", "topic": BTC_TOPIC},
                            {"event": "subscribe", "topic": ALL_TOPIC}]
        del messages[:]

        ids = await drive(control)
        named = await driven_truth(control, ids)
        btc = {n for n, row in named.items() if row["symbol"] == "BTC_USDT"}
        want = {protocol.ORDER_TABLE: sum(pushes_expected(named[n]) for n in btc),
                protocol.ALL_ORDERS_TABLE: sum(pushes_expected(row) for row in named.values())}

        def counts() -> dict[str, int]:
            return {table: sum(m.get("table") == table for m in messages) for table in want}

        await collect(lambda: counts() == want)
        await asyncio.sleep(0.1)  # anything extra would show up now
        await collect(lambda: True)
    finally:
        await blocking(client.stop)

    assert counts() == want, messages
    assert all(len(m["data"]) == 1 for m in messages)
    assert (await stats(control))["counters"]["pushes_sent"] == sum(want.values())
    for table, names in ((protocol.ORDER_TABLE, btc), (protocol.ALL_ORDERS_TABLE, set(named))):
        book = rebuild([m["data"][0] for m in messages if m["table"] == table])
        assert set(book) == {ids[n] for n in names}, table  # no ETH_USDT on the BTC topic
        for name in names:
            assert_push_is_truth(book[ids[name]], named[name], CLIENT_IDS.get(name))
        # The open set rebuilt from pushes is the truth's open set.
        rebuilt_open = {i for i, p in book.items()
                        if p["order_state"] in ("new", "partially_filled")}
        assert rebuilt_open == {ids[n] for n in names
                                if named[n]["state"] in ("new", "partially_filled")}


# -- 3. ccxt REST --------------------------------------------------------------------------


def ccxt_rest(sim: Running) -> Any:
    return ccxt_async.bitmart({
        "apiKey": KEY, "secret": SECRET, "uid": MEMO,  # uid is the memo
        "enableRateLimit": False,  # the default throttle stalls load_markets ~1.2 s
        "timeout": 5000,
        "urls": {"api": {"spot": sim.rest_url, "swap": sim.rest_url}},
    })


def assert_ccxt_order_is_truth(order: dict[str, Any], row: dict[str, Any],
                               statuses: dict[str, str]) -> None:
    assert order["id"] == row["orderId"]
    assert order["symbol"] == row["symbol"].replace("_", "/")
    assert order["side"] == row["side"]
    assert order["type"] == row["type"]
    assert order["status"] == statuses[row["state"]]
    assert order["filled"] == float(row["filledSize"])
    size = float(row["size"])
    assert order["amount"] == (size or None)  # ccxt omits a zero size (market buy)
    if row["type"] == "limit":
        assert order["price"] == float(row["price"])


async def test_ccxt_rest_open_orders_and_fetch_order(sim: Running, control: httpx.AsyncClient
                                                     ) -> None:
    ids = await drive(control)
    populated = await control.post("/populate", json={"per_symbol": 2})
    assert populated.status_code == 200, populated.text
    named = await driven_truth(control, ids)
    ex = ccxt_rest(sim)
    try:
        open_truth = await truth(control, open_only=True, symbol="BTC_USDT")
        orders = await asyncio.wait_for(ex.fetch_open_orders("BTC/USDT"), CALL_S)
        assert {o["id"] for o in orders} == set(open_truth)
        for order in orders:
            row = open_truth[order["id"]]
            assert_ccxt_order_is_truth(order, row, CCXT_STATUS)
            assert order["remaining"] == float(Decimal(row["size"]) - Decimal(row["filledSize"]))
            assert order["clientOrderId"] == row["clientOrderId"]  # the order id if none given
            assert order["timestamp"] == row["createTime"]

        for name, row in named.items():
            symbol = row["symbol"].replace("_", "/")
            order = await asyncio.wait_for(ex.fetch_order(row["orderId"], symbol), CALL_S)
            assert_ccxt_order_is_truth(order, row, CCXT_STATUS)
            assert order["clientOrderId"] == CLIENT_IDS.get(name, row["orderId"])
        statuses = {}
        for name in ("open", "partial", "filled", "canceled", "partially_canceled",
                     "market_buy"):
            order = await asyncio.wait_for(ex.fetch_order(ids[name], "BTC/USDT"), CALL_S)
            statuses[name] = (order["status"], order["filled"])
        assert statuses == {
            "open": ("open", 0.0), "partial": ("open", 0.05), "filled": ("closed", 0.3),
            "canceled": ("canceled", 0.0), "partially_canceled": ("canceled", 0.1),
            # Quirk: a market buy that filled what it could reads "canceled" (filled > 0).
            "market_buy": ("canceled", float(named["market_buy"]["filledSize"])),
        }
        assert statuses["market_buy"][1] > 0
    finally:
        await ex.close()


async def test_ccxt_rest_sees_only_seven_days_without_since(
        sim: Running, control: httpx.AsyncClient) -> None:
    ids = await drive(control)
    await age(sim, ids["open"], days=8)
    open_truth = await truth(control, open_only=True, symbol="BTC_USDT")
    ex = ccxt_rest(sim)
    try:
        orders = await asyncio.wait_for(ex.fetch_open_orders("BTC/USDT"), CALL_S)
        assert {o["id"] for o in orders} == set(open_truth) - {ids["open"]}
        since = now_ms() - 30 * DAY_MS
        orders = await asyncio.wait_for(ex.fetch_open_orders("BTC/USDT", since), CALL_S)
        assert {o["id"] for o in orders} == set(open_truth)
    finally:
        await ex.close()


# -- 4. ccxt.pro ---------------------------------------------------------------------------


def ccxt_pro(sim: Running, **config: Any) -> Any:
    return ccxtpro.bitmart({
        "apiKey": KEY, "secret": SECRET, "uid": MEMO,
        "enableRateLimit": False,
        "timeout": 5000,
        # Deep-merged: only the private spot socket is redirected.
        "urls": {"api": {"spot": sim.rest_url, "swap": sim.rest_url,
                         "ws": {"spot": {"private": sim.ws_url}}}},
        **config,
    })


def cached(ex: Any) -> dict[str, dict[str, Any]]:
    """ccxt.pro's order cache (ArrayCacheBySymbolById): order id -> last parsed push."""
    if ex.orders is None:
        return {}
    return {o["id"]: o for by_id in ex.orders.hashmap.values() for o in by_id.values()}


async def arm(ex: Any, symbol: str | None) -> asyncio.Task[Any]:
    """Start a `watch_orders` and return once ccxt waits on it (its future is registered)."""
    task = asyncio.create_task(ex.watch_orders(symbol))
    wanted = "orders" if symbol is None else f"orders::{symbol}"
    registered = await until(lambda: task.done() or any(
        wanted in client.futures for client in ex.clients.values()))
    assert registered, "watch_orders never started waiting"
    return task


async def stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("settings", [{"compress": True}, {"compress": False}],
                         indirect=True, ids=["deflate", "plain"])
@pytest.mark.parametrize("symbol", ["BTC/USDT", None], ids=["symbol", "all_symbols"])
async def test_ccxt_pro_watch_orders_follows_truth(sim: Running, control: httpx.AsyncClient,
                                                   symbol: str | None) -> None:
    ex = ccxt_pro(sim)
    task: asyncio.Task[Any] | None = None
    ids: dict[str, str] = {}
    try:
        task = asyncio.create_task(ex.watch_orders(symbol))
        await wait_subscribed(control, BTC_TOPIC if symbol else ALL_TOPIC, watcher=task)
        for step in STEPS:
            name, action, _ = step
            watched = symbol is None or step[2].get("symbol", "BTC_USDT") == "BTC_USDT"
            if task is None:
                task = await arm(ex, symbol)
            row = await run_step(control, ids, step)
            if not watched:
                continue  # checked after the loop: the BTC_USDT watch must stay pending
            batch = await asyncio.wait_for(task, WAIT_S)
            task = None
            # What the wait returns: the one push that woke it -- this step's first.
            assert [o["id"] for o in batch] == [row["orderId"]], name
            # The cache catches up with the truth (a market order's later pushes land here).
            assert await until(lambda row=row: cached(ex).get(row["orderId"], {}).get(
                "info", {}).get("update_time") == str(row["updateTime"])), name
            if step[2].get("type") != "market":  # one push: the row is exactly that push
                first_state = "new" if action == "place" else row["state"]
                assert batch[0]["status"] == CCXT_PRO_STATUS[first_state], name
                assert batch[0]["filled"] == float(row["filledSize"]), name
            else:
                # Several pushes back to back: the row handed out for the first one is the
                # cache's own dict, updated in place by the later pushes.
                assert batch[0] is cached(ex)[row["orderId"]], name
                assert batch[0]["status"] == CCXT_PRO_STATUS[row["state"]], name
        if symbol is not None:
            assert task is not None
            await asyncio.sleep(0.3)
            assert not task.done(), "a BTC_USDT watch was woken by an ETH_USDT order"
    finally:
        if task is not None:
            await stop(task)
        await ex.close()

    named = await driven_truth(control, ids)
    seen = cached(ex)
    watched_names = {n for n, r in named.items() if symbol is None or r["symbol"] == "BTC_USDT"}
    assert set(seen) == {ids[n] for n in watched_names}
    for name in watched_names:
        row, order = named[name], seen[ids[name]]
        assert_ccxt_order_is_truth(order, row, CCXT_PRO_STATUS)
        assert order["clientOrderId"] is None  # quirk: reads `clientOid`
        assert order["info"]["client_order_id"] == CLIENT_IDS.get(name, "0")
        assert order["timestamp"] is None
        assert order["lastTradeTimestamp"] == row["createTime"]  # quirk: ms_t
    # The quirks, spelled out: a cancel after a partial fill and a market buy read "12".
    assert seen[ids["partially_canceled"]]["status"] == "12"
    assert seen[ids["market_buy"]]["status"] == "12"
    assert seen[ids["market_buy"]]["filled"] == float(named["market_buy"]["filledSize"]) > 0


@pytest.mark.parametrize("settings", [{"ws_idle_timeout_s": 1.0}], indirect=True)
async def test_ccxt_pro_ping_frames_keep_the_connection(sim: Running,
                                                        control: httpx.AsyncClient) -> None:
    """ccxt.pro pings with protocol PING frames; the simulator answers and stays up."""
    lively = ccxt_pro(sim, streaming={"keepAlive": 250})
    mute = ccxt_pro(sim, streaming={"keepAlive": 0})  # sends nothing after subscribing
    tasks: list[asyncio.Task[Any]] = []
    try:
        tasks = [asyncio.create_task(ex.watch_orders("BTC/USDT")) for ex in (lively, mute)]
        await wait_subscribed(control, BTC_TOPIC, connections=2)
        # Past the idle timeout: the mute connection is closed, the pinging one is not.
        assert await until(lambda: tasks[1].done(), 2.5), "idle connection not closed"
        await asyncio.sleep(0.3)
        counters = (await stats(control))["counters"]
        assert counters.get("ws_closed_idle") == 1, counters
        assert not tasks[0].done()
        with pytest.raises(ccxtpro.NetworkError):
            tasks[1].result()
        client = next(iter(lively.clients.values()))
        assert client.lastPong is not None  # PONG frames came back

        row = await run_step(control, {}, STEPS[0])
        batch = await asyncio.wait_for(tasks[0], WAIT_S)
        assert [(o["id"], o["status"]) for o in batch] == [(row["orderId"], "open")]
        assert len((await stats(control))["connections"]) == 1
    finally:
        for task in tasks:
            await stop(task)
        for ex in (lively, mute):
            await ex.close()

