"""The venue's REST client and channel against the simulator's OKX face, over real sockets:
what they read agrees with the simulator's truth, while pages shift under the seed, and
each refusal is read as what it means."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from simulator.app import Running
from simulator.state import Account, AccountSettings, Settings
from tests.conftest import injected, place, set_faults
from tests.simulator.okx_client import MAIN
from tests.streaming import Connection
from tracker.codec import OrderUpdate
from tracker.exchange.errors import AuthError, ClockSkew, NotFound, StreamError, UnknownSymbol
from tracker.frames import Ack, OrderPush
from tracker.reasons import NotLive
from tracker.session import decoder
from tracker.venues.okx.channel import OkxChannel
from tracker.venues.okx.rest import OkxRest
from tracker.venues.okx.venue import Reader

READER = Reader()
KEEP = decoder(READER.seed_row, lambda _: None)  # the session's, with an empty book


@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, accounts=(AccountSettings("main", MAIN),),
                    open_orders_per_symbol=0)


def rest_for(sim: Running, symbols: tuple[str, ...] | None = ("BTC-USDT",),
             account: Account = MAIN, **kwargs: Any) -> OkxRest:
    return OkxRest(sim.rest_url, account.api_key, account.secret, account.passphrase,
                   symbols=symbols, **{"retries": 0, **kwargs})


@pytest.fixture
async def rest(sim: Running) -> AsyncIterator[OkxRest]:
    client = rest_for(sim)
    yield client
    await client.aclose()


async def truth(control: httpx.AsyncClient, symbol: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"open": 1, "account": "main"} | (
        {"symbol": symbol} if symbol else {})
    return {r["orderId"]: r for r in (await control.get("/truth", params=params)).json()[
        "orders"]}


async def test_the_seed_pages_and_agrees_with_the_truth(sim: Running,
                                                        control: httpx.AsyncClient) -> None:
    for n in range(7):
        await place(control, price=str(50000 + n), account="main")
    await place(control, symbol="ETH_USDT", price="3000", size="1", account="main")
    client = rest_for(sim, page_size=3)
    await client.sync_clock()
    seed = await client.seed("BTC-USDT", keep=KEEP)
    assert {u.order_id for u in seed.rows} == set(await truth(control, "BTC_USDT"))
    assert client.stats["seed_pages"] == 3 and seed.passes == 1
    assert all(isinstance(u, OrderUpdate) and u.symbol == "BTC-USDT" for u in seed.rows)
    every = rest_for(sim, None, page_size=100)
    assert {u.order_id for u in (await every.seed(None, keep=KEEP)).rows} == set(
        await truth(control))
    await client.aclose()
    await every.aclose()


async def test_no_order_open_throughout_is_lost_while_pages_shift(
        sim: Running, control: httpx.AsyncClient) -> None:
    """After every page the face closes the oldest open orders (canceled or filled) and
    places as many: an order-id cursor reads every order open throughout in one pass (an
    offset cursor would skip orders as the ones before them close: BitMart's v2)."""
    for n in range(40):
        await place(control, price=str(50000 + n), account="main")
    before = await truth(control, "BTC_USDT")
    await set_faults(control, page_shift=3)
    client = rest_for(sim, page_size=5)
    seed = await client.seed("BTC-USDT", keep=KEEP)
    await set_faults(control, page_shift=0)
    after = await truth(control, "BTC_USDT")
    unchanged = {oid for oid in before if oid in after
                 and after[oid]["updateTime"] == before[oid]["updateTime"]}
    got = {u.order_id for u in seed.rows}
    assert (await injected(control))["page_shift"] >= 3 and client.stats["seed_pages"] >= 4
    assert len(unchanged) >= 10 and unchanged <= got
    assert got <= set(before)  # orders placed during the read are the stream's
    await client.aclose()


async def test_the_lookup_by_instrument_and_51603(rest: OkxRest,
                                                  control: httpx.AsyncClient) -> None:
    order = await place(control, account="main")
    await control.post(f"/orders/{order['orderId']}/cancel", json={})
    answer = READER.detail(await rest.order_detail(order["orderId"], "BTC-USDT"))
    assert (answer.order_id, answer.state, answer.source) == (order["orderId"], "canceled",
                                                              "detail")
    with pytest.raises(NotFound, match="51603"):
        await rest.order_detail("999999999", "BTC-USDT")
    with pytest.raises(NotFound, match="51603"):  # another instrument's: OKX does not know it
        await rest.order_detail(order["orderId"], "ETH-USDT")


async def test_the_lookup_of_an_order_the_book_holds_no_instrument_of(
        sim: Running, control: httpx.AsyncClient) -> None:
    order = await place(control, symbol="ETH_USDT", price="3000", size="1", account="main")
    client = rest_for(sim, ("BTC-USDT", "ETH-USDT"))
    answer = READER.detail(await client.order_detail(order["orderId"], None))
    assert answer.symbol == "ETH-USDT"
    await client.aclose()


async def test_markets(rest: OkxRest) -> None:
    assert await rest.markets(["BTC-USDT", "ETH-USDT"]) == {"BTC-USDT": ("BTC", "USDT"),
                                                            "ETH-USDT": ("ETH", "USDT")}
    with pytest.raises(UnknownSymbol, match="'NOPE-USDT'"):
        await rest.markets(["NOPE-USDT"])


async def test_a_clock_refusal_and_the_resync(rest: OkxRest) -> None:
    rest.skew_ms = -120_000
    with pytest.raises(ClockSkew, match="50102"):
        await rest.seed("BTC-USDT")
    await asyncio.sleep(0.3)  # the re-measure it started
    assert abs(rest.skew_ms) < 5_000
    await rest.seed("BTC-USDT")


async def test_refused_credentials(sim: Running, control: httpx.AsyncClient) -> None:
    wrong = rest_for(sim, account=Account(MAIN.api_key, MAIN.secret, "", passphrase="nope"))
    with pytest.raises(AuthError, match=r"50105.*check api_key, api_secret and passphrase"):
        await wrong.seed("BTC-USDT")
    await wrong.aclose()
    revoked = await control.post("/okx/revoke", json={"account": "main"})
    assert revoked.status_code == 200, revoked.text
    client = rest_for(sim)
    with pytest.raises(AuthError, match="50111"):
        await client.seed("BTC-USDT")
    await client.aclose()


async def opened(sim: Running, symbols: list[str] | None, account: Account = MAIN,
                 skew_ms: int = 0) -> tuple[Connection, dict[str, Any]]:
    channel = OkxChannel(sim.ws_urls["okx"], account.api_key, account.secret,
                         account.passphrase, symbols)
    ws = await websockets.connect(channel.url)
    conn = Connection(ws, channel)
    try:
        return conn, await channel.open(ws.send, conn.reply, skew_ms)
    except BaseException:
        await ws.close()
        raise


@pytest.mark.parametrize("symbols", [["BTC-USDT"], None])
async def test_the_stream_carries_the_accounts_orders(
        sim: Running, control: httpx.AsyncClient, symbols: list[str] | None) -> None:
    """One subscription of every spot instrument; with instruments configured, the pushes
    of the others are dropped on arrival (counted as ignored)."""
    conn, up = await opened(sim, symbols)
    assert up == {"channel": "orders", "instType": "SPOT",
                  "instruments": 1 if symbols else "all"}
    await place(control, symbol="ETH_USDT", price="3000", size="1", account="main")
    order = await place(control, account="main")
    pushed: list[Any] = []
    ignored = 0
    while not any(e.order_id == order["orderId"] for e in pushed):
        frame = await conn.frame()
        if isinstance(frame, Ack):  # channel-conn-count, after the subscribe's ack
            assert frame.body["event"] == "channel-conn-count"
            continue
        assert isinstance(frame, OrderPush)
        # The face's pushes are OKX's shape: read whole by the codec's fast path.
        assert all(isinstance(e, OrderUpdate) for e in frame.data), frame.data
        pushed += frame.data
        ignored += frame.ignored
    symbols_pushed = [e.symbol for e in pushed]
    assert symbols_pushed == (["BTC-USDT"] if symbols else ["ETH-USDT", "BTC-USDT"])
    assert ignored == (1 if symbols else 0)
    await conn.ws.close()


async def test_an_instrument_okx_does_not_list_does_not_keep_the_stream_down(
        sim: Running) -> None:
    """OKX refuses a subscription naming an instrument it does not list (60018): the
    channel names none, so a delisted instrument costs the stream nothing, and the
    markets reading says it is a configuration error."""
    conn, up = await opened(sim, ["BTC-USDT", "NOPE-USDT"])
    assert up["instruments"] == 2
    await conn.ws.close()


async def test_a_refused_login_says_why(sim: Running) -> None:
    wrong = Account(MAIN.api_key, MAIN.secret, "", passphrase="nope")
    with pytest.raises(StreamError, match="60009") as refusal:
        await opened(sim, ["BTC-USDT"], wrong)
    assert refusal.value.cause is NotLive.CREDENTIALS
    assert "check api_key, api_secret and passphrase" in str(refusal.value)
    # The login's timestamp is ours plus the skew measured: two minutes off is refused.
    with pytest.raises(StreamError, match="60006") as late:
        await opened(sim, ["BTC-USDT"], skew_ms=-120_000)
    assert late.value.cause is NotLive.CLOCK
