"""Conformance: clients written by other people against the simulator's OKX face.

Two clients, each a real subprocess on `make clients`' packages (tests/clients/: the
Makefile says why they live apart), driven over driverio's line protocol while the test
drives the simulator:

1. OKX's SDK, `python-okx` (sdk_driver.py), in demo mode (`x-simulated-trading: 1`): REST
   (place, amend, cancel, order details, orders-pending) and the private WebSocket's
   `orders` channel (`WsPrivateAsync`), which connects only over TLS: the test serves the
   face over TLS as well, with a certificate it makes, which the SDK is told to trust
   through `SSL_CERT_FILE` (the SDK itself unchanged);
2. ccxt (ccxt_driver.py), `ccxt.pro.okx` in demo mode (`set_sandbox_mode`):
   create_order, edit_order, cancel_order, fetch_order, fetch_open_orders over REST and
   `watch_orders` on the private WebSocket.

Each places orders, changes some itself, and follows the stream while the simulator's own
hand (the control API: fills, cancels, orders of its own, then its random flow) changes
others; what the client parsed must then agree, field by field, with the ground truth
(`GET /control/truth`). What the clients do where our reading of OKX's documents is silent
or differs is in docs/okx.md, "What clients do".
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import secrets
import ssl
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simulator.app import Running
from simulator.state import Account, AccountSettings, Settings
from tests.clients import conformance
from tests.clients.conformance import (
    WAIT_S,
    Driver,
    Hand,
    eventually,
    follow_flow,
    given_client_id,
)

HERE = Path(__file__).parent
ACCOUNT = "okx"
KEYS = {"api_key": secrets.token_hex(16), "secret": secrets.token_hex(16),
        "passphrase": secrets.token_urlsafe(12)}
SDK_SUBSCRIBE_S = 5.0  # python-okx sleeps this long between its login and its subscribe

# OKX's state for each of the core's (a cancel after a fill is `canceled` with fills).
STATE = {"new": "live", "partially_filled": "partially_filled", "filled": "filled",
         "canceled": "canceled", "partially_canceled": "canceled"}
CANCEL_SOURCE = {"user": "1", "system": "0"}
CCXT_BROKER = "6b9ad766b55dBCDE"  # ccxt's okx `options["brokerId"]`

SERVED = (AccountSettings(ACCOUNT, Account(KEYS["api_key"], KEYS["secret"], "",
                                          passphrase=KEYS["passphrase"])),)
# The face's idle cut (4004) in the keep-alive test: past the SDK's sleep between its login
# and its subscribe, short of OKX's 30 s.
IDLE_S = SDK_SUBSCRIBE_S + 2.0


@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, accounts=SERVED)


# -- TLS in front of the face ------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that signs itself, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "okx face")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "face.crt", directory / "face.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextlib.asynccontextmanager
async def over_tls(sim: Running, directory: Path) -> AsyncIterator[tuple[str, str, Path]]:
    """The same application served on a second port, over TLS: the REST base URL there,
    the private WebSocket's `wss://` URL, and the certificate a client must trust."""
    cert, key = self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    before = set(sim.runner.addresses)
    site = web.TCPSite(sim.runner, sim.host, 0, ssl_context=context)
    await site.start()
    try:
        (port,) = {a[1] for a in sim.runner.addresses if a not in before}
        path = urlsplit(sim.ws_urls["okx"]).path
        yield f"https://{sim.host}:{port}", f"wss://{sim.host}:{port}{path}", cert
    finally:
        await site.stop()


async def subscriptions(control: httpx.AsyncClient) -> dict[int, Any]:
    """The subscriptions the simulator holds for the account's connections."""
    response = await control.get("/stats")
    assert response.status_code == 200, response.text
    return {0: sorted(t for c in response.json()["connections"] for t in c["topics"])}


# -- OKX's spelling, against the truth -------------------------------------------------------


def okx(symbol: str) -> str:
    return symbol.replace("_", "-")


def assert_okx_order_is_truth(got: dict[str, Any], row: dict[str, Any], push: bool = False
                              ) -> None:
    """An order as OKX writes it (an orders-pending row, an order detail, an element of an
    `orders` push), as the SDK handed it on, against the truth."""
    name = f"order {row['orderId']}"
    quote = row["symbol"].split("_")[1]
    filled = Decimal(row["filledSize"])
    assert got["instType"] == "SPOT", name
    assert got["instId"] == okx(row["symbol"]), name
    assert got["ordId"] == row["orderId"], name
    assert got["clOrdId"] == (given_client_id(row) or ""), name
    assert got["side"] == row["side"], name
    assert got["ordType"] == row["type"], name
    assert got["state"] == STATE[row["state"]], name
    assert Decimal(got["px"]) == Decimal(row["price"]), name
    assert Decimal(got["sz"]) == Decimal(row["size"]), name
    assert Decimal(got["accFillSz"]) == filled, name
    if filled:  # an average rounded to 12 decimals: accFillSz * avgPx is near the notional
        assert abs(Decimal(got["avgPx"]) * filled - Decimal(row["filledNotional"])) <= (
            filled * Decimal("1e-12")), name
    else:
        assert got["avgPx"] == ("0" if push else ""), name
    assert (Decimal(got["fee"]), got["feeCcy"]) == (-Decimal(row["fees"]), quote), name
    assert got["cancelSource"] == ("" if row["state"] in (*conformance.OPEN, "filled")
                                   else CANCEL_SOURCE[row["cancelSource"]]), name
    assert got["cTime"] == str(row["createTime"]), name
    assert got["uTime"] == str(row["updateTime"]), name


def assert_ccxt_order_is_okx_truth(order: dict[str, Any], row: dict[str, Any]) -> None:
    """A unified ccxt order (REST or stream) against the truth: what ccxt unifies on every
    venue, and what it reads of OKX's orders besides (the average, the fee, both times, no
    client id where none was given)."""
    conformance.assert_ccxt_order_is_truth(order, row)
    name = f"order {row['orderId']}"
    if float(row["filledSize"]):
        assert order["average"] == pytest.approx(float(row["priceAvg"]), rel=1e-9), name
    assert order["fee"] == {"cost": float(row["fees"]),
                            "currency": row["symbol"].split("_")[1]}, name
    assert order["clientOrderId"] == given_client_id(row), name
    assert order["timestamp"] == row["createTime"], name
    assert order["lastUpdateTimestamp"] == row["updateTime"], name


def placed_row(answer: dict[str, Any]) -> dict[str, Any]:
    """The one row of an order call's answer that succeeded."""
    assert (answer["code"], answer["msg"], len(answer["data"])) == ("0", "", 1), answer
    row: dict[str, Any] = answer["data"][0]
    assert row["sCode"] == "0", answer
    return row


def refused_row(answer: dict[str, Any], code: str) -> dict[str, Any]:
    """The one row of an order call OKX refused: envelope `1`, the reason in the row."""
    assert (answer["code"], len(answer["data"])) == ("1", 1), answer
    row: dict[str, Any] = answer["data"][0]
    assert row["sCode"] == code and row["sMsg"], answer
    return row


# -- 1. OKX's SDK ----------------------------------------------------------------------------


def messages(sdk: Driver) -> list[Any]:
    return [e["data"] for e in sdk.events if e["event"] == "stream"]


def pushes(sdk: Driver) -> list[dict[str, Any]]:
    """Every order the `orders` channel pushed, in arrival order."""
    return [element for m in messages(sdk) if isinstance(m, dict) and "data" in m
            and m["arg"]["channel"] == "orders" for element in m["data"]]


def last_pushes(sdk: Driver) -> dict[int, dict[str, Any]]:
    """Last write wins per order, in arrival order."""
    return {int(p["ordId"]): p for p in pushes(sdk)}


async def sdk_seen(sdk: Driver) -> dict[int, Any]:
    return {i: (p["state"], Decimal(p["accFillSz"]), p["uTime"])
            for i, p in last_pushes(sdk).items()}


def sdk_expected(row: dict[str, Any]) -> Any:
    return STATE[row["state"]], Decimal(row["filledSize"]), str(row["updateTime"])


async def sdk_subscribed(sdk: Driver) -> dict[int, Any]:
    events = [m.get("event") for m in messages(sdk) if isinstance(m, dict)]
    return {0: events[:2]}


async def test_sdk_rest_and_orders_channel_agree_with_truth(
        sim: Running, control: httpx.AsyncClient, tmp_path: Path) -> None:
    hand = Hand(control, ACCOUNT)
    async with over_tls(sim, tmp_path) as (https_url, wss_url, cert), conformance.driver(
            HERE / "sdk_driver.py", tmp_path,
            {"rest_url": https_url, "ws_url": wss_url, "flag": "1", **KEYS},
            env={"SSL_CERT_FILE": str(cert)}) as sdk:
        await sdk.call("subscribe", within=SDK_SUBSCRIBE_S + WAIT_S)
        await eventually(lambda: sdk_subscribed(sdk), {0: ["login", "subscribe"]},
                         "the SDK's login and subscribe acks")
        login = messages(sdk)[0]
        assert login["code"] == "0", login
        assert messages(sdk)[1]["arg"] == {"channel": "orders", "instType": "SPOT"}

        # The client's own orders, and what each answer says.
        placed = {}
        for name, inst_id, side, sz, px in (
                ("keep", "BTC-USDT", "buy", "0.5", "50000"),
                ("cancel", "BTC-USDT", "sell", "0.2", "61000"),
                ("reprice", "BTC-USDT", "buy", "0.3", "49000.5"),
                ("eth", "ETH-USDT", "buy", "1.5", "2900")):
            row = placed_row(await sdk.call("place", inst_id=inst_id, side=side, px=px, sz=sz,
                                            cl_ord_id=f"sdk{name}"))
            assert row["clOrdId"] == f"sdk{name}" and row["ordId"].isdigit(), row
            placed[name] = row["ordId"]
        keep, cancel, reprice = placed["keep"], placed["cancel"], placed["reprice"]

        # The simulator's hand: part of one of the client's orders fills.
        await hand.fill(keep, "0.1")
        # Amends keep the ordId: a smaller size (with a reqId), then a new price.
        row = placed_row(await sdk.call("amend", inst_id="BTC-USDT", ord_id=keep, new_sz="0.4",
                                        req_id="sdkamend1"))
        assert (row["ordId"], row["reqId"], row["clOrdId"]) == (keep, "sdkamend1", "sdkkeep")
        row = placed_row(await sdk.call("amend", inst_id="BTC-USDT", ord_id=reprice,
                                        new_px="48000"))
        assert row["ordId"] == reprice
        row = placed_row(await sdk.call("cancel", inst_id="BTC-USDT", ord_id=cancel))
        assert (row["ordId"], row["clOrdId"]) == (cancel, "sdkcancel")
        # Refusals: an order no longer open can be neither canceled nor amended.
        refused_row(await sdk.call("cancel", inst_id="BTC-USDT", ord_id=cancel), "51400")
        refused_row(await sdk.call("amend", inst_id="BTC-USDT", ord_id=cancel, new_sz="0.1"),
                    "51503")

        # More of the simulator's hand: orders of its own, filled and canceled.
        own_filled, own_canceled = await conformance.hand_orders(hand, "ownF")
        await hand.fill(placed["eth"])

        truth = await hand.truth()
        ours = {int(i) for i in placed.values()} | {own_filled, own_canceled}
        assert ours <= set(truth)
        assert {truth[i]["state"] for i in ours} == {
            "partially_filled", "canceled", "new", "filled", "partially_canceled"}

        # The order details, for every order; by clOrdId too.
        for order_id in ours:
            row = truth[order_id]
            answer = await sdk.call("order", inst_id=okx(row["symbol"]), ord_id=str(order_id))
            assert (answer["code"], len(answer["data"])) == ("0", 1), answer
            assert_okx_order_is_truth(answer["data"][0], row)
        by_client = await sdk.call("order", inst_id="BTC-USDT", cl_ord_id="sdkkeep")
        assert by_client["data"][0]["ordId"] == keep
        # An unknown order: 51603 with HTTP 200 and no data (the SDK raises nothing).
        unknown = await sdk.call("order", inst_id="BTC-USDT", ord_id="12345")
        assert (unknown["code"], unknown["data"]) == ("51603", []), unknown

        # orders-pending: every instrument, one, and page by page backwards.
        open_truth = {i: r for i, r in truth.items() if r["state"] in conformance.OPEN}
        for inst_id in ("", "BTC-USDT"):
            answer = await sdk.call("pending", inst_id=inst_id)
            assert answer["code"] == "0", answer
            want = {i for i, r in open_truth.items() if inst_id in ("", okx(r["symbol"]))}
            assert [int(r["ordId"]) for r in answer["data"]] == sorted(want, reverse=True)
            for got in answer["data"]:
                assert_okx_order_is_truth(got, open_truth[int(got["ordId"])])
        pages: list[int] = []
        after = ""
        while True:
            page = (await sdk.call("pending", after=after, limit="2"))["data"]
            pages += [int(r["ordId"]) for r in page]
            if len(page) < 2:
                break
            after = page[-1]["ordId"]
        assert pages == sorted(open_truth, reverse=True)

        # The stream: every order's last push is its truth.
        await eventually(lambda: sdk_seen(sdk), {i: sdk_expected(truth[i]) for i in ours},
                         "the channel's last pushes")
        last = last_pushes(sdk)
        for order_id in ours:
            assert_okx_order_is_truth(last[order_id], truth[order_id], push=True)
        amend_push = next(p for p in pushes(sdk) if p["ordId"] == keep and p["reqId"])
        assert (amend_push["reqId"], amend_push["amendResult"], amend_push["sz"]) == (
            "sdkamend1", "0", "0.4")
        states = {i: [p["state"] for p in pushes(sdk) if int(p["ordId"]) == i] for i in ours}
        assert states[int(cancel)] == ["live", "canceled"]
        assert states[own_canceled] == ["live", "partially_filled",
                                                        "canceled"]

        # Then the simulator's random flow, a while: the stream keeps up with the truth.
        await follow_flow(hand, lambda: sdk_seen(sdk), sdk_expected)
        assert await sdk.call("reading") == [{"done": False, "error": None}]


async def sdk_reading(sdk: Driver) -> dict[int, Any]:
    return {0: [r["done"] for r in await sdk.call("reading")]}


@pytest.mark.parametrize("settings", [Settings(port=0, accounts=SERVED,
                                               okx_idle_timeout_s=IDLE_S)])
async def test_sdk_sends_no_text_ping_and_does_not_reconnect(
        sim: Running, control: httpx.AsyncClient, tmp_path: Path, settings: Settings) -> None:
    """python-okx's only keep-alive is `websockets`' protocol ping (every 20 s): no text
    `ping`. On a quiet account the face cuts it (4004) as it cuts any client that sends
    nothing, and the SDK ends its receive loop: no new connection, no new subscription."""
    hand = Hand(control, ACCOUNT)
    async with over_tls(sim, tmp_path) as (https_url, wss_url, cert), conformance.driver(
            HERE / "sdk_driver.py", tmp_path,
            {"rest_url": https_url, "ws_url": wss_url, "flag": "1", **KEYS},
            env={"SSL_CERT_FILE": str(cert)}, expected=("4004",)) as sdk:
        await sdk.call("subscribe", within=SDK_SUBSCRIBE_S + WAIT_S)
        await eventually(lambda: sdk_subscribed(sdk), {0: ["login", "subscribe"]},
                         "the SDK's login and subscribe acks")
        await eventually(lambda: sdk_reading(sdk), {0: [True]}, "the idle cut",
                         within=IDLE_S + WAIT_S)
        (loop,) = await sdk.call("reading")
        assert "ConnectionClosedError" in loop["error"] and "4004" in loop["error"], loop
        # The SDK's last word to its callback, then nothing: it never sent `ping`.
        closed = messages(sdk)[-1]
        assert (closed["event"], closed["code"]) == ("error", "ConnClosed"), closed
        assert "4004" in closed["msg"]
        assert "pong" not in messages(sdk)
        await eventually(lambda: subscriptions(control), {0: []}, "no subscription left")
        lost = await hand.place(symbol="BTC_USDT", side="buy", price="50000", size="0.1")
        await asyncio.sleep(0.5)
        assert int(lost["orderId"]) not in last_pushes(sdk)
        assert await sdk.call("reading") == [loop]


# -- 2. ccxt ---------------------------------------------------------------------------------


async def test_ccxt_rest_and_watch_orders_agree_with_truth(
        sim: Running, control: httpx.AsyncClient, tmp_path: Path) -> None:
    hand = Hand(control, ACCOUNT)
    ws_base = sim.ws_urls["okx"].removesuffix("/private")
    async with conformance.driver(HERE / "ccxt_driver.py", tmp_path,
                                  {"rest_url": sim.rest_url, "ws_base": ws_base,
                                   **KEYS}) as cx:
        watched = await cx.call("watch")
        # ccxt's demo URL: the private path, with the broker id it adds in demo mode.
        assert watched["url"] == f"{ws_base}/private?brokerId=9999"
        await cx.call("watch", symbol="BTC/USDT")  # a second watch, of one instrument
        await eventually(lambda: subscriptions(control), {0: [
            '{"channel": "orders", "instId": "BTC-USDT", "instType": "SPOT"}',
            '{"channel": "orders", "instType": "ANY"}']}, "ccxt.pro's two subscriptions")

        placed = {}
        for name, symbol, side, amount, price in conformance.CCXT_ORDERS:
            order = await cx.call("place", symbol=symbol, side=side, amount=amount,
                                  price=price, client_id=f"cx{name}")
            # Only the ids: the place answer (batch-orders' row) says nothing else.
            assert order["clientOrderId"] == f"cx{name}", order
            assert order["info"]["sCode"] == "0", order
            placed[name] = order["id"]
        # Without a client id ccxt makes one: its broker id and 16 hex digits (and `tag`).
        auto = await cx.call("place", symbol="BTC/USDT", side="buy", amount="0.1",
                             price="45000")
        assert auto["clientOrderId"].startswith(CCXT_BROKER), auto
        assert len(auto["clientOrderId"]) == len(CCXT_BROKER) + 16 == 32, auto
        placed["auto"] = auto["id"]

        await hand.fill(placed["amend"], "0.1")
        amended = await cx.call("edit", id=placed["amend"], symbol="BTC/USDT", side="buy",
                                amount="0.4")
        assert amended["id"] == placed["amend"]  # an amend keeps the ordId
        edited = await cx.call("edit", id=placed["edit"], symbol="BTC/USDT", side="buy",
                               amount="0.25", price="48000")
        assert edited["id"] == placed["edit"]
        canceled = await cx.call("cancel", id=placed["cancel"], symbol="BTC/USDT")
        assert (canceled["id"], canceled["clientOrderId"]) == (placed["cancel"], "cxcancel")
        # An order no longer open: OKX's 51400 (cancel) and 51503 (amend) in the row, which
        # ccxt raises as OrderNotFound; a client id still open, 51016, as InvalidOrder.
        for op, args, code, kind in (
                ("cancel", {}, "51400", "OrderNotFound"),
                ("edit", {"side": "sell", "amount": "0.1"}, "51503", "OrderNotFound")):
            with pytest.raises(conformance.DriverError) as gone:
                await cx.call(op, id=placed["cancel"], symbol="BTC/USDT", **args)
            assert gone.value.error["type"] == kind and code in gone.value.error["message"]
        with pytest.raises(conformance.DriverError) as twice:
            await cx.call("place", symbol="BTC/USDT", side="buy", amount="0.1", price="45000",
                          client_id="cxamend")
        assert twice.value.error["type"] == "InvalidOrder"
        assert "51016" in twice.value.error["message"]
        own = await conformance.hand_orders(hand, "ownF")

        truth = await hand.truth()
        ours = {int(i) for i in placed.values()} | set(own)
        for order_id in ours:
            row = truth[order_id]
            order = await cx.call("fetch_order", id=row["orderId"],
                                  symbol=conformance.unified(row["symbol"]))
            assert_ccxt_order_is_okx_truth(order, row)

        await conformance.assert_unknown_order_not_found(cx, "51603")  # OKX's 51603
        await conformance.assert_open_orders_are_truth(cx, truth, assert_ccxt_order_is_okx_truth)

        # watch_orders: ccxt.pro's cache ends as the truth of every order.
        await eventually(lambda: conformance.ccxt_seen(cx),
                         {i: conformance.ccxt_expected(truth[i]) for i in ours},
                         "watch_orders' cache")
        cache = conformance.ccxt_view(await cx.call("cached"))
        for order_id in ours:
            assert_ccxt_order_is_okx_truth(cache[order_id], truth[order_id])
        conformance.assert_watches_split(cx)

        await follow_flow(hand, lambda: conformance.ccxt_seen(cx), conformance.ccxt_expected)
