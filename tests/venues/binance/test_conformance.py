"""Conformance: clients written by other people against the simulator's Binance face.

Two clients, each a real subprocess running its own environment's packages (`make clients`
installs them apart from .[test], which pins ccxt 4.5.70 for BitMart; the Makefile says
why), driven over a line protocol (tests/clients/: driverio.py, conformance.py) while
the test drives the simulator:

1. Binance's SDK, `binance-sdk-spot` (sdk_driver.py): REST (place, amend keep-priority,
   cancel, cancel-replace, order query, openOrders) and the WebSocket API's user data
   stream (`userDataStream.subscribe.signature`), with an HMAC, an Ed25519 and an RSA key;
2. ccxt, `ccxt.pro.binance` (ccxt_driver.py): create/cancel/edit/fetch_order/
   fetch_open_orders over REST and `watch_orders` on the WebSocket API, with an HMAC key.

Each places orders, changes some itself, and follows the stream while the simulator's own
hand (the control API: fills, cancels, orders of its own, then its random flow) changes
others; what the client parsed must then agree, field by field, with the ground truth
(`GET /control/truth`). What the clients do where our reading of Binance's documents is
silent or differs is in docs/binance.md, "What clients do".
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.app import Running
from simulator.state import Account, AccountSettings, Settings
from tests.clients import conformance
from tests.clients.conformance import (
    WAIT_S,
    Driver,
    DriverError,
    Hand,
    eventually,
    follow_flow,
    given_client_id,
)
from tracker.venues.binance.signing import public_pem

from .keys import secret_of

HERE = Path(__file__).parent

# Binance's status for each of the core's states (a cancel after a fill is CANCELED too).
STATUS = {"new": "NEW", "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED",
          "canceled": "CANCELED", "partially_canceled": "CANCELED"}


# -- accounts and keys -----------------------------------------------------------------------


def make_accounts() -> tuple[tuple[AccountSettings, ...], dict[str, dict[str, str]]]:
    """One account per key type, and what a client needs to sign as each (never argv)."""
    served, keys = [], {}
    for kind in ("hmac", "ed25519", "rsa"):
        api_key, secret = secrets.token_hex(32), secrets.token_hex(32)
        signing = {"api_key": api_key, "secret": secret}
        public = ""
        if kind != "hmac":
            private = secret_of(kind)  # a PKCS#8 PEM, as Binance's key page takes
            public = public_pem(private)
            signing = {"api_key": api_key, "private_key": private}
        served.append(AccountSettings(kind, Account(api_key, secret, "", public)))
        keys[kind] = signing
    return tuple(served), keys


SERVED, KEYS = make_accounts()


@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, accounts=SERVED)


# -- the drivers -----------------------------------------------------------------------------


def driver(name: str, tmp_path: Path, config: dict[str, Any], expected: tuple[str, ...] = ()
           ) -> contextlib.AbstractAsyncContextManager[Driver]:
    """`<name>_driver.py`, beside this test (tests/clients/conformance.py runs it)."""
    return conformance.driver(HERE / f"{name}_driver.py", tmp_path, config, expected)


def config_for(sim: Running, kind: str) -> dict[str, Any]:
    return {"rest_url": sim.rest_url, "ws_url": sim.ws_urls["binance"], **KEYS[kind]}


# -- Binance's spelling, against the truth ---------------------------------------------------


def binance(symbol: str) -> str:
    return symbol.replace("_", "")


def assert_rest_row_is_truth(got: dict[str, Any], row: dict[str, Any]) -> None:
    """A REST order (openOrders row, order query) as the SDK parsed it, against the truth."""
    name = f"order {row['orderId']}"
    assert got["model"].startswith(("GetOrder", "GetOpenOrders")), got
    assert got["symbol"] == binance(row["symbol"]), name
    assert got["orderId"] == int(row["orderId"]), name
    assert got["side"] == row["side"].upper(), name
    assert got["type"] == row["type"].upper(), name
    assert got["status"] == STATUS[row["state"]], name
    assert Decimal(got["price"]) == Decimal(row["price"]), name
    assert Decimal(got["origQty"]) == Decimal(row["size"]), name
    assert Decimal(got["executedQty"]) == Decimal(row["filledSize"]), name
    assert Decimal(got["cummulativeQuoteQty"]) == Decimal(row["filledNotional"]), name
    assert got["time"] == row["createTime"], name
    assert got["updateTime"] == row["updateTime"], name
    if given_client_id(row) is not None:
        assert got["clientOrderId"] == row["clientOrderId"], name


def assert_report_is_truth(event: dict[str, Any], row: dict[str, Any]) -> None:
    """An order's last executionReport as the SDK parsed it, against the truth."""
    name = f"order {row['orderId']}"
    assert event["model"] == "ExecutionReport", event
    assert event["s"] == binance(row["symbol"]), name
    assert event["i"] == int(row["orderId"]), name
    assert event["S"] == row["side"].upper(), name
    assert event["o"] == row["type"].upper(), name
    assert event["X"] == STATUS[row["state"]], name
    assert Decimal(event["p"]) == Decimal(row["price"]), name
    assert Decimal(event["q"]) == Decimal(row["size"]), name
    assert Decimal(event["z"]) == Decimal(row["filledSize"]), name
    assert Decimal(event["Z"]) == Decimal(row["filledNotional"]), name
    assert event["O"] == row["createTime"], name
    assert event["T"] == row["updateTime"], name
    # A cancel's event carries the cancel's own id in `c` and the order's in `C`.
    client = event["C"] if event["x"] == "CANCELED" else event["c"]
    if given_client_id(row) is not None:
        assert client == row["clientOrderId"], name


# -- 1. Binance's SDK ------------------------------------------------------------------------


def reports(sdk: Driver) -> list[dict[str, Any]]:
    """The executionReports the SDK handed on: its model, which drops `e` (the model is the
    event's type) and the `subscriptionId` around the event."""
    return [e["data"] for e in sdk.events
            if e["event"] == "stream" and e["data"].get("model") == "ExecutionReport"]


def last_reports(sdk: Driver) -> dict[int, dict[str, Any]]:
    """Last write wins per order, in arrival order."""
    return {r["i"]: r for r in reports(sdk)}


@pytest.mark.parametrize(("kind", "logon"), [("hmac", False), ("ed25519", False),
                                             ("rsa", False), ("ed25519", True)],
                         ids=["hmac", "ed25519", "rsa", "ed25519-logon"])
async def test_sdk_rest_and_user_data_stream_agree_with_truth(
        sim: Running, control: httpx.AsyncClient, tmp_path: Path, kind: str, logon: bool
        ) -> None:
    hand = Hand(control, kind)
    async with driver("sdk", tmp_path, config_for(sim, kind)) as sdk:
        subscribed = await sdk.call("subscribe", logon=logon)
        # The WebSocket API answer as a whole (id, status, result), not its result alone.
        assert subscribed["status"] == 200 and subscribed["result"] == {"subscriptionId": 0}

        # The client's own orders, and what each answer says.
        placed = {}
        for name, symbol, side, qty, price in (
                ("keep", "BTCUSDT", "BUY", "0.5", "50000"),
                ("cancel", "BTCUSDT", "SELL", "0.2", "61000"),
                ("replace", "BTCUSDT", "BUY", "0.3", "49000.5"),
                ("eth", "ETHUSDT", "BUY", "1.5", "2900")):
            answer = await sdk.call("place", symbol=symbol, side=side, quantity=qty,
                                    price=price, client_id=f"sdk-{kind}-{name}")
            assert answer["model"] == "NewOrderResponse", answer
            assert (answer["symbol"], answer["side"], answer["status"]) == (symbol, side,
                                                                           "NEW")
            assert Decimal(answer["origQty"]) == Decimal(qty)
            assert Decimal(answer["price"]) == Decimal(price)
            assert answer["clientOrderId"] == f"sdk-{kind}-{name}"
            placed[name] = answer["orderId"]
        keep, cancel, replace = placed["keep"], placed["cancel"], placed["replace"]

        # The simulator's hand: part of one of the client's orders fills.
        await hand.fill(keep, "0.1")
        # Amend keep-priority: less quantity, same order id, a new client id.
        amended = await sdk.call("amend", symbol="BTCUSDT", order_id=keep, new_qty="0.4",
                                 client_id=f"sdk-{kind}-kept")
        assert amended["model"] == "OrderAmendKeepPriorityResponse", amended
        assert amended["amendedOrder"]["orderId"] == keep
        assert Decimal(amended["amendedOrder"]["qty"]) == Decimal("0.4")  # not origQty here
        assert amended["amendedOrder"]["clientOrderId"] == f"sdk-{kind}-kept"
        assert amended["amendedOrder"]["origClientOrderId"] == f"sdk-{kind}-keep"

        canceled = await sdk.call("cancel", symbol="BTCUSDT", order_id=cancel)
        assert canceled["model"] == "DeleteOrderResponse", canceled
        assert (canceled["orderId"], canceled["status"]) == (cancel, "CANCELED")
        assert canceled["origClientOrderId"] == f"sdk-{kind}-cancel"

        swapped = await sdk.call("cancel_replace", symbol="BTCUSDT", order_id=replace,
                                 side="BUY", quantity="0.25", price="48000")
        assert swapped["model"] == "OrderCancelReplaceResponse", swapped
        assert swapped["cancelResult"] == swapped["newOrderResult"] == "SUCCESS"
        assert swapped["cancelResponse"]["orderId"] == replace
        assert swapped["cancelResponse"]["status"] == "CANCELED"
        fresh = swapped["newOrderResponse"]["orderId"]
        assert fresh != replace

        # More of the simulator's hand: orders of its own, filled and canceled.
        own_filled, own_canceled = await conformance.hand_orders(hand, f"own{kind}F")
        await hand.fill(placed["eth"])

        truth = await hand.truth()
        ours = {keep, cancel, replace, fresh, placed["eth"], own_filled, own_canceled}
        assert ours <= set(truth)
        assert {truth[i]["state"] for i in ours} == {
            "partially_filled", "canceled", "new", "filled", "partially_canceled"}

        # The order query, for every order.
        for order_id in ours:
            row = truth[order_id]
            got = await sdk.call("order", symbol=binance(row["symbol"]), order_id=order_id)
            assert_rest_row_is_truth(got, row)

        # An unknown order: Binance's -2013 (HTTP 400), raised with its code.
        with pytest.raises(DriverError) as unknown:
            await sdk.call("order", symbol="BTCUSDT", order_id=12345)
        assert (unknown.value.error["type"], unknown.value.error["code"]) == (
            "BadRequestError", -2013)

        # openOrders, one symbol and all.
        open_truth = {i: r for i, r in truth.items() if r["state"] in conformance.OPEN}
        for symbol in ("BTCUSDT", None):
            rows = await sdk.call("open_orders", symbol=symbol)
            want = {i for i, r in open_truth.items() if symbol in (None, binance(r["symbol"]))}
            assert {r["orderId"] for r in rows} == want, symbol
            for got in rows:
                assert_rest_row_is_truth(got, open_truth[got["orderId"]])

        # The stream: every order's last executionReport is its truth.
        await eventually(lambda: sdk_seen(sdk), {i: sdk_expected(truth[i]) for i in ours},
                         "the stream's last events")
        last = last_reports(sdk)
        for order_id in ours:
            assert_report_is_truth(last[order_id], truth[order_id])
        executions = {i: [r["x"] for r in reports(sdk) if r["i"] == i] for i in ours}
        assert executions[keep] == ["NEW", "TRADE", "REPLACED"]
        assert executions[cancel] == ["NEW", "CANCELED"]
        assert executions[replace] == ["NEW", "CANCELED"]
        assert executions[fresh] == ["NEW"]
        assert executions[own_canceled] == ["NEW", "TRADE", "CANCELED"]
        # The amend's event: the new client id in `c`, the one it replaced in `C`.
        amend_event = next(r for r in reports(sdk) if r["i"] == keep and r["x"] == "REPLACED")
        assert (amend_event["c"], amend_event["C"]) == (f"sdk-{kind}-kept",
                                                         f"sdk-{kind}-keep")
        cancel_event = next(r for r in reports(sdk) if r["i"] == cancel)
        assert cancel_event["C"] == "" or cancel_event["C"] is None  # NEW: nothing replaced
        assert last[cancel]["c"] == canceled["clientOrderId"]  # the cancel's own id

        # Then the simulator's random flow, a while: the stream keeps up with the truth.
        await follow_flow(hand, lambda: sdk_seen(sdk), sdk_expected)


async def sdk_seen(sdk: Driver) -> dict[int, Any]:
    return {i: (r["X"], Decimal(r["z"]), r["T"]) for i, r in last_reports(sdk).items()}


def sdk_expected(row: dict[str, Any]) -> Any:
    return STATUS[row["state"]], Decimal(row["filledSize"]), row["updateTime"]


# -- 2. ccxt ---------------------------------------------------------------------------------


async def test_ccxt_rest_and_watch_orders_agree_with_truth(
        sim: Running, control: httpx.AsyncClient, tmp_path: Path) -> None:
    hand = Hand(control, "hmac")
    async with driver("ccxt", tmp_path, config_for(sim, "hmac")) as cx:
        await cx.call("watch")
        await cx.call("watch", symbol="BTC/USDT")  # a second watch, of one symbol

        placed = {}
        for name, symbol, side, amount, price in conformance.CCXT_ORDERS:
            order = await cx.call("place", symbol=symbol, side=side, amount=amount,
                                  price=price, client_id=f"cx-{name}")
            assert (order["symbol"], order["side"], order["type"], order["status"]) == (
                symbol, side, "limit", "open")
            assert (order["amount"], order["price"]) == (float(amount), float(price))
            assert order["clientOrderId"] == f"cx-{name}"
            placed[name] = order["id"]

        await hand.fill(placed["amend"], "0.1")
        # No unified amend: ccxt's signed request to the keep-priority path.
        amended = await cx.call("amend", id=placed["amend"], symbol="BTC/USDT", amount="0.4",
                                client_id="cx-amended")
        assert str(amended["amendedOrder"]["orderId"]) == placed["amend"]
        canceled = await cx.call("cancel", id=placed["cancel"], symbol="BTC/USDT")
        assert (canceled["id"], canceled["status"]) == (placed["cancel"], "canceled")
        # Quirk: ccxt's answer to a cancel takes `clientOrderId`, which Binance's cancel
        # answer sets to the cancel request's own id; the order's is `origClientOrderId`.
        assert canceled["info"]["origClientOrderId"] == "cx-cancel"
        assert canceled["clientOrderId"] == canceled["info"]["clientOrderId"] != "cx-cancel"
        edited = await cx.call("edit", id=placed["edit"], symbol="BTC/USDT", side="buy",
                               amount="0.25", price="48000")
        assert edited["id"] != placed["edit"]
        assert (edited["status"], edited["amount"], edited["price"]) == ("open", 0.25,
                                                                         48000.0)
        own = await conformance.hand_orders(hand, "ownF")

        truth = await hand.truth()
        ours = {int(i) for i in placed.values()} | {int(edited["id"]), *own}
        for order_id in ours:
            row = truth[order_id]
            order = await cx.call("fetch_order", id=row["orderId"],
                                  symbol=conformance.unified(row["symbol"]))
            conformance.assert_ccxt_order_is_truth(order, row)
            assert order["timestamp"] == row["createTime"]
            assert order["lastUpdateTimestamp"] == row["updateTime"]

        await conformance.assert_unknown_order_not_found(cx, '"code":-2013')  # Binance's -2013

        # Without a symbol (weight 80, not 6) ccxt refuses until told it is meant.
        with pytest.raises(DriverError) as refused:
            await cx.call("fetch_open_orders")
        assert refused.value.error["type"] == "ExchangeError"
        assert "warnWithoutSymbol" in refused.value.error["message"]
        await conformance.assert_open_orders_are_truth(
            cx, truth, conformance.assert_ccxt_order_is_truth, acknowledged=True)

        # watch_orders: ccxt.pro's cache ends as the truth of every order.
        await eventually(lambda: conformance.ccxt_seen(cx),
                         {i: conformance.ccxt_expected(truth[i]) for i in ours},
                         "watch_orders' cache")
        cache = conformance.ccxt_view(await cx.call("cached"))
        amended_id = int(placed["amend"])
        for order_id in ours - {amended_id}:
            conformance.assert_ccxt_order_is_truth(cache[order_id], truth[order_id])
        # Quirk: ccxt.pro reads the client id from `C` whenever it is not empty (meant for
        # a cancel's event); an amend's `C` is the id it replaced, so the amended order keeps
        # its old client id in the stream's view while fetch_order reads the new one.
        stale = cache[amended_id]
        assert (stale["info"]["x"], stale["info"]["c"], stale["info"]["C"]) == (
            "REPLACED", "cx-amended", "cx-amend")
        assert stale["clientOrderId"] == "cx-amend"
        conformance.assert_ccxt_order_is_truth({**stale, "clientOrderId": "cx-amended"},
                                   truth[amended_id])
        conformance.assert_watches_split(cx)

        await follow_flow(hand, lambda: conformance.ccxt_seen(cx), conformance.ccxt_expected)


# -- 3. a small amount, as each client writes it ---------------------------------------------


async def test_a_small_quantity_as_each_client_writes_it(
        sim: Running, control: httpx.AsyncClient, tmp_path: Path) -> None:
    """The SDK types `quantity` and `price` as floats and writes them with `str()`, so
    0.00001 goes out as `1e-05`. Binance refuses that with -1100 ("Illegal characters found
    in parameter 'quantity'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'", as users of
    several clients report), so the simulator must: a client that works against it would
    otherwise fail on the exchange. ccxt writes the same amount as `0.00001`: served."""
    hand = Hand(control, "hmac")
    async with driver("sdk", tmp_path, config_for(sim, "hmac")) as sdk:
        with pytest.raises(DriverError) as refused:
            await sdk.call("place", symbol="BTCUSDT", side="BUY", quantity="0.00001",
                           price="50000")
        assert refused.value.error["code"] == -1100, refused.value.error
        assert "'quantity'" in refused.value.error["message"]
    assert await hand.truth() == {}
    async with driver("ccxt", tmp_path, config_for(sim, "hmac")) as cx:
        order = await cx.call("place", symbol="BTC/USDT", side="buy", amount="0.00001",
                              price="50000")
    conformance.assert_ccxt_order_is_truth(order, (await hand.truth())[int(order["id"])])


# -- 4. when the venue ends the stream ------------------------------------------------------


def sdk_saw(sdk: Driver, order_id: int) -> bool:
    return any(r["i"] == order_id for r in reports(sdk))


def ccxt_saw(cx: Driver, order_id: int) -> bool:
    return any(int(o["id"]) == order_id for e in cx.events if e["event"] == "orders"
               for o in e["orders"])


async def test_event_stream_terminated_as_each_client_meets_it(
        sim: Running, control: httpx.AsyncClient, tmp_path: Path) -> None:
    """`eventStreamTerminated` ends the subscription and leaves the connection ([BN]
    user-data-stream.md). Neither client subscribes again: the SDK hands the event on and
    its stream falls silent; ccxt.pro ignores it and its `watch_orders` waits for ever."""
    hand = Hand(control, "hmac")
    async with driver("sdk", tmp_path, config_for(sim, "hmac")) as sdk, \
            driver("ccxt", tmp_path, config_for(sim, "hmac")) as cx:
        await sdk.call("subscribe")
        await cx.call("watch")
        before = int((await hand.place(symbol="BTC_USDT", side="buy", price="50000",
                                       size="0.1"))["orderId"])
        await eventually(lambda: seen_by_both(sdk, cx, before), {0: (True, True)},
                         "an order before the end")
        ended = await control.post("/binance/terminate", json={"account": "hmac"})
        assert ended.status_code == 200, ended.text
        await eventually(lambda: terminated(sdk), {0: True}, "the SDK's EventStreamTerminated")
        after = int((await hand.place(symbol="BTC_USDT", side="buy", price="50000",
                                      size="0.1"))["orderId"])
        await asyncio.sleep(1.0)
        assert await seen_by_both(sdk, cx, after) == {0: (False, False)}
        assert not [e for e in cx.events if e["event"] == "error"]  # the watch still waits


async def seen_by_both(sdk: Driver, cx: Driver, order_id: int) -> dict[int, Any]:
    return {0: (sdk_saw(sdk, order_id), ccxt_saw(cx, order_id))}


async def terminated(sdk: Driver) -> dict[int, Any]:
    return {0: any(e["event"] == "stream" and e["data"].get("model") == "EventStreamTerminated"
                   for e in sdk.events)}


async def test_server_shutdown_as_each_client_meets_it(
        sim: Running, control: httpx.AsyncClient, tmp_path: Path) -> None:
    """`serverShutdown`, then the close ([BN] web-socket-api.md). The SDK sleeps 5 s in its
    reader on the event (a fixed delay, whatever `reconnect_delay` says), then connects
    anew, subscribes again with a fresh signature and closes the old connection: an event
    sent meanwhile on the old one is lost, and nothing is replayed. ccxt.pro ignores the
    event and reads on until the close, which fails its `watch_orders` (NetworkError); the
    next call connects and subscribes anew, its cache kept. Whatever changed between the
    close and the new subscription neither client hears of: no snapshot on subscribe."""
    hand = Hand(control, "hmac")
    async with driver("sdk", tmp_path, config_for(sim, "hmac"),
                      expected=("Server shutdown event received",)) as sdk, \
            driver("ccxt", tmp_path, config_for(sim, "hmac"),
                   expected=("closing code 1001",)) as cx:
        await sdk.call("subscribe")
        await cx.call("watch")
        announced = await control.post("/binance/shutdown", json={"delay_s": 0.5})
        assert announced.status_code == 200, announced.text
        meanwhile = int((await hand.place(symbol="BTC_USDT", side="buy", price="50000",
                                          size="0.1"))["orderId"])
        await eventually(lambda: watch_failed(cx), {0: True}, "ccxt's watch failing")
        await cx.call("watch")
        await eventually(lambda: subscribed(control), {0: 2}, "the SDK's new subscription",
                         within=5.0 + WAIT_S)
        later = int((await hand.place(symbol="BTC_USDT", side="buy", price="50000",
                                      size="0.1"))["orderId"])
        await eventually(lambda: seen_by_both(sdk, cx, later), {0: (True, True)},
                         "an order after the new subscriptions")
        # Sent before the close: lost by the SDK (asleep in its reader), read by ccxt.
        assert await seen_by_both(sdk, cx, meanwhile) == {0: (False, True)}
        # ccxt.pro's cache outlives the connection: both orders are in it.
        assert {int(o["id"]) for o in await cx.call("cached")} == {meanwhile, later}


async def watch_failed(cx: Driver) -> dict[int, Any]:
    return {0: any(e["event"] == "error" for e in cx.events)}


async def subscribed(control: httpx.AsyncClient) -> dict[int, Any]:
    """How many connections hold a subscription on the simulator (the SDK's and ccxt's)."""
    response = await control.get("/stats")
    assert response.status_code == 200, response.text
    return {0: sum(bool(c["topics"]) for c in response.json()["connections"])}
