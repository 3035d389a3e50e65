"""The tracker's REST clients against the simulator, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tracker.exchange.errors import AuthError, NotFound
from tracker.exchange.rest import Credentials, V2Rest, V4Rest
from tracker.signing import v2_client_secret
from tracker.simulator.app import DEMO_ACCOUNT, Running, Settings

CREDS = Credentials(DEMO_ACCOUNT.api_key, DEMO_ACCOUNT.secret, DEMO_ACCOUNT.memo)


@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, open_orders_per_symbol=0, seed=5)


@pytest.fixture
async def v2rest(sim: Running) -> AsyncIterator[V2Rest]:
    client = V2Rest(sim.rest_url, CREDS, page_size=10, rate=1000, retries=6)
    yield client
    await client.aclose()


@pytest.fixture
async def v4rest(sim: Running) -> AsyncIterator[V4Rest]:
    client = V4Rest(sim.rest_url, CREDS, since_ms=1_514_764_800_000, page_size=200)
    yield client
    await client.aclose()


async def open_ids(control: httpx.AsyncClient, symbol: str | None = None) -> set[str]:
    params = {"open": 1} | ({"symbol": symbol} if symbol else {})
    truth = (await control.get("/truth", params=params)).json()["orders"]
    return {o["orderId"] for o in truth}


async def test_v2_seed_reads_every_page(v2rest: V2Rest, control: httpx.AsyncClient) -> None:
    await control.post("/populate", json={"per_symbol": 95, "symbol": "BTC_USDT"})
    seed = await v2rest.seed("BTC_USDT")
    assert {str(r["entrust_id"]) for r in seed.rows} == await open_ids(control, "BTC_USDT")
    assert seed.passes == 2 and not seed.uncertain  # two quiet passes agree at once


async def test_v2_seed_loses_nothing_while_orders_move_between_pages(
        v2rest: V2Rest, control: httpx.AsyncClient) -> None:
    await control.post("/populate", json={"per_symbol": 60, "symbol": "BTC_USDT"})
    before = await open_ids(control, "BTC_USDT")
    await control.patch("/faults", json={"page_shift": 2})
    seed = await v2rest.seed("BTC_USDT")
    await control.patch("/faults", json={"page_shift": 0})
    got = {str(r["entrust_id"]) for r in seed.rows} | {
        str(r["entrust_id"]) for r in seed.uncertain}
    after = await open_ids(control, "BTC_USDT")
    # Every order open from start to end of the seed is in it, either read or handed back
    # as uncertain for a question by id; nothing is invented.
    assert before & after <= got
    truth = {o["orderId"] for o in (await control.get("/truth")).json()["orders"]}
    assert got <= truth
    assert (await control.get("/faults")).json()["injected"]["page_shift"] >= 12


async def test_v2_token_refresh_on_401_and_clock_skew(v2rest: V2Rest,
                                                      control: httpx.AsyncClient) -> None:
    await control.post("/populate", json={"per_symbol": 3, "symbol": "ETH_USDT"})
    await control.patch("/faults", json={"clock_skew_ms": -90_000})
    await v2rest.sync_clock()
    assert -91_000 < v2rest.skew_ms < -89_000
    assert len((await v2rest.seed("ETH_USDT")).rows) == 3
    await control.post("/tokens/expire")
    assert len((await v2rest.seed("ETH_USDT")).rows) == 3
    assert v2rest.stats["token_refresh_on_401"] == 1 and v2rest.stats["tokens"] == 2


async def test_v2_retries_transient_errors(v2rest: V2Rest, control: httpx.AsyncClient) -> None:
    await control.post("/populate", json={"per_symbol": 25, "symbol": "BMX_ETH"})
    await control.patch("/faults", json={"rest_5xx": 0.3, "rest_429": 0.2})
    seed = await v2rest.seed("BMX_ETH")
    assert {str(r["entrust_id"]) for r in seed.rows} == await open_ids(control, "BMX_ETH")
    injected = (await control.get("/faults")).json()["injected"]
    assert injected.get("rest_5xx", 0) + injected.get("rest_429", 0) > 0


async def test_v2_detail_and_not_found(v2rest: V2Rest, control: httpx.AsyncClient) -> None:
    order = (await control.post("/orders", json={"symbol": "BTC_USDT"})).json()
    row = await v2rest.order_detail(order["orderId"])
    assert str(row["entrust_id"]) == order["orderId"] and row["status"] == 1
    with pytest.raises(NotFound):
        await v2rest.order_detail("999")


async def test_wrong_credentials_are_an_auth_error(sim: Running) -> None:
    client = V2Rest(sim.rest_url, Credentials(CREDS.api_key, "wrong", CREDS.memo))
    with pytest.raises(AuthError, match="check the API key"):
        await client.seed("BTC_USDT")
    await client.aclose()
    client4 = V4Rest(sim.rest_url, Credentials(CREDS.api_key, "wrong", CREDS.memo))
    with pytest.raises(AuthError):
        await client4.order_detail("1")
    await client4.aclose()


async def test_v4_pages_back_in_time_and_finds_old_orders(
        v4rest: V4Rest, control: httpx.AsyncClient, sim: Running) -> None:
    for _ in range(5):
        await control.post("/populate", json={"per_symbol": 50})  # 750 orders, >200
    oldest = next(iter(sim.sim.store.orders.values()))
    oldest.create_time -= 30 * 24 * 3600 * 1000  # a month old: past the 7-day default
    seed = await v4rest.seed(None)
    got = [r["orderId"] for r in seed.rows]
    assert len(got) == len(set(got)) and set(got) == await open_ids(control)
    assert oldest.order_id in got
    one = await v4rest.seed("ETH_USDT")
    assert {r["orderId"] for r in one.rows} == await open_ids(control, "ETH_USDT")


async def test_v4_detail_not_found_and_rate_limit_pacing(v4rest: V4Rest,
                                                         control: httpx.AsyncClient) -> None:
    order = (await control.post("/orders", json={"symbol": "BTC_USDT"})).json()
    assert (await v4rest.order_detail(order["orderId"]))["state"] == "new"
    with pytest.raises(NotFound):
        await v4rest.order_detail("123")
    # 30 list calls: the client paces itself to 12 per 2 s and is never refused.
    await asyncio.gather(*(v4rest.seed("BMX_ETH") for _ in range(30)))
    assert not any(k.startswith("errors_") and "30013" in k for k in v4rest.stats)


async def test_v2_token_refusal_for_rate_waits_instead_of_hammering(
        v2rest: V2Rest, sim: Running, control: httpx.AsyncClient) -> None:
    # Another process (a restart loop, say) used the minute's five tokens already.
    form = {"grant_type": "client_credentials", "client_id": CREDS.api_key,
            "client_secret": v2_client_secret(CREDS.api_key, CREDS.secret, CREDS.memo)}
    async with httpx.AsyncClient(base_url=sim.rest_url) as other:
        for _ in range(5):
            await other.post("/v2/authentication", data=form)
    task = asyncio.create_task(v2rest.seed("BTC_USDT"))
    await asyncio.sleep(3)
    stats = (await control.get("/stats")).json()["counters"]
    task.cancel()
    # One refusal, then the client holds off for a slot's worth of the window (12 s),
    # where a plain retry loop would have asked again and again.
    assert stats.get("v2_token_refused", 0) == 1, stats
