"""The venue's REST client and channel against the simulator's Binance face, over real
sockets, for each key type: what they read agrees with the simulator's truth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import websockets

from simulator.app import Running
from simulator.state import Settings
from tests.conftest import place
from tests.simulator.binance_client import Keys
from tests.streaming import Connection
from tracker.codec import OrderUpdate
from tracker.exchange.errors import AuthError, ClockSkew, NotFound, StreamError
from tracker.frames import Ended, Handover, OrderPush
from tracker.reasons import NotLive
from tracker.session import decoder
from tracker.venues.binance.channel import BinanceChannel
from tracker.venues.binance.rest import BinanceRest
from tracker.venues.binance.venue import Reader

KEYS = Keys()
KINDS = ["hmac", "rsa", "ed25519"]
READER = Reader()
KEEP = decoder(READER.seed_row, lambda _: None)  # the session's, with an empty book


@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, accounts=KEYS.accounts, open_orders_per_symbol=0)


def rest_for(sim: Running, kind: str = "hmac",
             symbols: tuple[str, ...] | None = ("BTCUSDT",)) -> BinanceRest:
    rest = BinanceRest(sim.rest_url, KEYS.api_key(kind), KEYS.signer(kind), symbols=symbols,
                       retries=0)
    rest.recheck_s = 0.05
    return rest


@pytest.fixture
async def rest(sim: Running) -> AsyncIterator[BinanceRest]:
    client = rest_for(sim)
    yield client
    await client.aclose()


async def truth_ids(control: httpx.AsyncClient, kind: str, symbol: str | None = None) -> set[str]:
    params: dict[str, Any] = {"open": 1, "account": kind} | ({"symbol": symbol} if symbol else {})
    rows = (await control.get("/truth", params=params)).json()["orders"]
    return {f"{r['symbol'].replace('_', '')}:{r['orderId']}" for r in rows}


@pytest.mark.parametrize("kind", KINDS)
async def test_the_seed_and_the_lookup_agree_with_the_truth(
        sim: Running, control: httpx.AsyncClient, kind: str) -> None:
    for price in ("50000", "50100", "50200"):
        await place(control, price=price, account=kind)
    await place(control, symbol="ETH_USDT", price="3000", size="1", account=kind)
    client = rest_for(sim, kind)
    await client.sync_clock()
    seed = await client.seed("BTCUSDT", keep=KEEP)
    assert {u.order_id for u in seed.rows} == await truth_ids(control, kind, "BTC_USDT")
    some = seed.rows[0]
    detail = READER.detail(await client.order_detail(some.order_id, None))
    assert detail == msgspec.structs.replace(some, source="detail")
    every = await rest_for(sim, kind, None).seed(None, keep=KEEP)
    assert {u.order_id for u in every.rows} == await truth_ids(control, kind)
    await client.aclose()


async def test_a_canceled_order_and_one_unknown(rest: BinanceRest,
                                               control: httpx.AsyncClient) -> None:
    order = await place(control)
    await control.post(f"/orders/{order['orderId']}/cancel", json={})
    answer = READER.detail(await rest.order_detail(f"BTCUSDT:{order['orderId']}", None))
    assert answer.state == "canceled"
    with pytest.raises(NotFound):
        await rest.order_detail("BTCUSDT:999999999", None)
    assert rest.stats["detail_rechecks"] == 1


async def test_markets(rest: BinanceRest) -> None:
    assert await rest.markets(["BTCUSDT", "ETHUSDT"]) == {"BTCUSDT": ("BTC", "USDT"),
                                                          "ETHUSDT": ("ETH", "USDT")}


async def test_a_clock_refusal_and_the_resync(rest: BinanceRest) -> None:
    rest.skew_ms = -120_000
    with pytest.raises(ClockSkew):
        await rest.seed("BTCUSDT")
    await asyncio.sleep(0.3)  # the re-measure it started
    assert abs(rest.skew_ms) < 5_000
    await rest.seed("BTCUSDT")


async def test_a_revoked_key_is_refused_with_a_hint(rest: BinanceRest,
                                                    control: httpx.AsyncClient) -> None:
    await control.post("/binance/revoke", json={"account": "hmac"})
    with pytest.raises(AuthError, match="Enable Reading"):
        await rest.seed("BTCUSDT")


async def opened(sim: Running, kind: str, logon: bool = False) -> Connection:
    channel = BinanceChannel(sim.ws_urls["binance"], KEYS.api_key(kind), KEYS.signer(kind),
                             ["BTCUSDT"], logon=logon)
    ws = await websockets.connect(channel.url)
    conn = Connection(ws, channel)
    up = await channel.open(ws.send, conn.reply, 0)
    assert up["subscription"] is not None and up["key_type"] == kind
    return conn


@pytest.mark.parametrize(("kind", "logon"), [("hmac", False), ("rsa", False),
                                             ("ed25519", False), ("ed25519", True)])
async def test_the_stream_carries_the_accounts_orders(
        sim: Running, control: httpx.AsyncClient, kind: str, logon: bool) -> None:
    conn = await opened(sim, kind, logon)
    await place(control, symbol="ETH_USDT", price="3000", size="1", account=kind)
    order = await place(control, account=kind)
    pushed = []
    while not pushed:
        frame = await conn.frame()
        assert isinstance(frame, OrderPush)
        # The channel's decoder reads the face's events whole (the codec's fast path).
        assert all(isinstance(e, OrderUpdate) for e in frame.data), frame.data
        pushed = frame.data
    (update,) = pushed
    assert (update.order_id, update.state) == (f"BTCUSDT:{order['orderId']}", "new")
    await conn.ws.close()


async def test_the_face_ends_and_hands_over(sim: Running, control: httpx.AsyncClient) -> None:
    conn = await opened(sim, "hmac")
    await control.post("/binance/shutdown", json={"delay_s": 5})
    assert isinstance(await conn.frame(), Handover)
    await control.post("/binance/terminate", json={})
    ended = await conn.frame()
    assert isinstance(ended, Ended) and ended.cause is NotLive.DISCONNECTED
    await conn.ws.close()
    conn = await opened(sim, "hmac")
    await control.post("/binance/revoke", json={"account": "hmac"})
    ended = await conn.frame()
    assert isinstance(ended, Ended) and ended.cause is NotLive.CREDENTIALS
    await conn.ws.close()


async def test_a_revoked_key_cannot_subscribe(sim: Running, control: httpx.AsyncClient) -> None:
    await control.post("/binance/revoke", json={"account": "rsa"})
    with pytest.raises(StreamError) as refusal:
        await opened(sim, "rsa")
    assert refusal.value.cause is NotLive.CREDENTIALS
    assert "\n" not in str(refusal.value) and "Enable Reading" in str(refusal.value)
