"""The tracker's REST clients against the simulator, over real sockets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from simulator.app import Running
from simulator.state import DEMO_ACCOUNT, Settings
from tracker.exchange.errors import AuthError, ExchangeError, NotFound, RateLimited
from tracker.venues.bitmart.keys import Keys as Credentials
from tracker.venues.bitmart.rest import V2Rest, V4Rest
from tracker.venues.bitmart.signing import v2_client_secret

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
    got = {str(r["entrust_id"]) for r in seed.rows} | set(seed.uncertain)
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
    row = await v2rest.order_detail(order["orderId"], None)
    assert str(row["entrust_id"]) == order["orderId"] and row["status"] == 1
    with pytest.raises(NotFound):
        await v2rest.order_detail("999", None)


async def test_wrong_credentials_are_an_auth_error(sim: Running) -> None:
    client = V2Rest(sim.rest_url, Credentials(CREDS.api_key, "wrong", CREDS.memo))
    with pytest.raises(AuthError, match="check api_key, api_secret and api_memo"):
        await client.seed("BTC_USDT")
    await client.aclose()
    client4 = V4Rest(sim.rest_url, Credentials(CREDS.api_key, "wrong", CREDS.memo))
    with pytest.raises(AuthError, match=r"30005.*check api_secret and api_memo"):
        await client4.order_detail("1", None)
    await client4.aclose()
    client4 = V4Rest(sim.rest_url, Credentials("no-such-key", CREDS.secret, CREDS.memo))
    with pytest.raises(AuthError, match="does not know this API key: check api_key"):
        await client4.order_detail("1", None)
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
    assert (await v4rest.order_detail(order["orderId"], None))["state"] == "new"
    with pytest.raises(NotFound):
        await v4rest.order_detail("123", None)
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


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


async def test_answer_declared_over_the_cap_is_refused(sim: Running,
                                                       control: httpx.AsyncClient) -> None:
    await control.post("/populate", json={"per_symbol": 95, "symbol": "BTC_USDT"})
    client = V2Rest(sim.rest_url, CREDS, page_size=100, rate=1000, retries=0, max_bytes=4096)
    with capture_logs() as logs, pytest.raises(ExchangeError, match="rest_max_bytes") as err:
        await client.seed("BTC_USDT")  # the token's small answer passes; the page does not
    await client.aclose()
    assert "GET /v2/orders" in str(err.value) and err.value.retryable
    refused = events(logs, "rest_too_large")
    assert len(refused) == 1 and refused[0]["call"] == "GET /v2/orders"
    assert refused[0]["content_length"] > 4096  # refused from the header, before reading
    assert client.stats["errors_too_large"] == 1 and client.stats["tokens"] == 1


@pytest.mark.parametrize("api", ["v2", "v4"])
async def test_endless_chunked_answer_is_cut_at_the_cap(api: str, sim: Running,
                                                        control: httpx.AsyncClient) -> None:
    await control.post("/populate", json={"per_symbol": 3, "symbol": "ETH_USDT"})
    kind = V2Rest if api == "v2" else V4Rest
    client = kind(sim.rest_url, CREDS, retries=1, max_bytes=1 << 20)
    await control.patch("/faults", json={"rest_endless": True})
    with capture_logs() as logs, pytest.raises(ExchangeError, match="rest_max_bytes"):
        await client.seed("ETH_USDT")
    # The control API is not an exchange path: it answers while the endless fault is on.
    assert (await control.get("/faults")).json()["faults"]["rest_endless"] is True
    refused = events(logs, "rest_too_large")
    assert len(refused) == 2 and all(e["content_length"] is None for e in refused)
    assert client.stats["errors_too_large"] == 2
    assert (await control.get("/faults")).json()["injected"]["rest_endless"] == 2
    await control.patch("/faults", json={"rest_endless": False})
    assert len((await client.seed("ETH_USDT")).rows) == 3
    await client.aclose()


async def test_trickling_answers_hit_the_deadline_of_the_whole_call(
        sim: Running, control: httpx.AsyncClient) -> None:
    await control.post("/populate", json={"per_symbol": 4, "symbol": "BMX_ETH"})
    client = V2Rest(sim.rest_url, CREDS, rate=1000, retries=1, timeout=0.5)
    await control.patch("/faults", json={"rest_trickle_ms": 100})  # each byte well in time
    started = time.monotonic()
    with capture_logs() as logs:
        with pytest.raises(ExchangeError, match=r"0\.5 s deadline") as clock:
            await client.sync_clock()
        with pytest.raises(ExchangeError, match=r"0\.5 s deadline") as token:
            await client.seed("BMX_ETH")
    assert time.monotonic() - started < 5
    assert "GET /v2/time" in str(clock.value) and clock.value.retryable
    assert "POST /v2/authentication" in str(token.value)
    late = events(logs, "rest_deadline")
    assert [e["call"] for e in late] == ["GET /v2/time", "POST /v2/authentication",
                                         "POST /v2/authentication"]  # the seed retried once
    assert all(e["deadline_s"] == 0.5 and e["log_level"] == "warning" for e in late)
    assert client.stats["errors_deadline"] == 3
    # A trickle that ends within the deadline is a complete, correct answer.
    await control.patch("/faults", json={"rest_trickle_ms": 2, "clock_skew_ms": 60_000})
    await client.sync_clock()
    assert 59_000 < client.skew_ms < 61_000 and client.stats["errors_deadline"] == 3
    assert (await control.get("/faults")).json()["injected"]["rest_trickle"] == 4
    await control.patch("/faults", json={"rest_trickle_ms": 0})
    assert len((await client.seed("BMX_ETH")).rows) == 4
    await client.aclose()


@pytest.mark.parametrize("faults", [{"rest_trickle_ms": -1}, {"rest_trickle_ms": 1.5},
                                    {"rest_endless": 1}, {"rest_endless": "yes"}])
async def test_new_faults_are_validated(faults: dict[str, Any],
                                        control: httpx.AsyncClient) -> None:
    response = await control.patch("/faults", json=faults)
    assert response.status_code == 400, response.text
    assert (await control.get("/faults")).json()["faults"]["rest_trickle_ms"] == 0


def exchange(handler: Any) -> httpx.AsyncClient:
    """An in-process exchange: `handler` answers every request the client sends."""
    return httpx.AsyncClient(base_url="http://exchange.test",
                             transport=httpx.MockTransport(handler))


async def test_v2_rate_limit_body_keeps_its_text() -> None:
    """BitMart's v2 limiter answers {"code": -30, "msg": ...}, not `message`."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/authentication":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 900})
        return httpx.Response(429, json={"code": -30, "msg": "Visit too often, please try "
                                                             "again later"})

    client = V2Rest("http://exchange.test", CREDS, retries=0)
    client.http = exchange(handler)
    try:
        with pytest.raises(ExchangeError, match="HTTP 429: Visit too often"):
            await client.order_detail("1", None)
    finally:
        await client.aclose()


async def test_v4_pages_on_string_create_times() -> None:
    """The codec accepts "1700000000000" as a time; paging must move on it too."""
    created = [1_700_000_000_000 + i for i in range(5)]
    rows = [dict(orderId=str(995_232_205_536_716_288 + i), createTime=str(t))
            for i, t in enumerate(created)]
    asked: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        asked.append(body.get("endTime"))
        end = body.get("endTime", 2**63)
        page = [r for r in reversed(rows) if int(r["createTime"]) < end][:body["limit"]]
        return httpx.Response(200, json={"code": 1000, "message": "success", "data": page})

    client = V4Rest("http://exchange.test", CREDS, since_ms=1, page_size=2, retries=0)
    client.http = exchange(handler)
    try:
        seed = await client.seed(None)
    finally:
        await client.aclose()
    assert sorted(r["orderId"] for r in seed.rows) == sorted(r["orderId"] for r in rows)
    assert asked[0] is None and all(isinstance(end, int) for end in asked[1:])


SIM_MARKETS = {"BTC_USDT": ("BTC", "USDT"), "ETH_USDT": ("ETH", "USDT"),
               "BMX_ETH": ("BMX", "ETH")}


@pytest.mark.parametrize("api", ["v2", "v4"])
async def test_the_markets_of_given_symbols_are_their_halves_without_a_call(
        api: str, sim: Running) -> None:
    kind = V2Rest if api == "v2" else V4Rest
    client = kind(sim.rest_url, CREDS)
    try:
        assert await client.markets(["BTC_USDT", "BMX_ETH"]) == {
            "BTC_USDT": ("BTC", "USDT"), "BMX_ETH": ("BMX", "ETH")}
        assert client.stats["calls"] == 0
    finally:
        await client.aclose()


async def test_the_markets_of_every_symbol_are_bitmarts_public_list(
        v4rest: V4Rest, control: httpx.AsyncClient) -> None:
    assert await v4rest.markets(None) == SIM_MARKETS
    assert v4rest.stats["calls"] == 1  # unsigned: no token, no clock


@pytest.mark.parametrize(("fault", "error"), [("rest_5xx", ExchangeError),
                                              ("rest_429", RateLimited)])
async def test_a_refused_public_list_is_an_exchange_error_retried_then_raised(
        fault: str, error: type[ExchangeError], sim: Running,
        control: httpx.AsyncClient) -> None:
    client = V4Rest(sim.rest_url, CREDS, retries=1)
    await control.patch("/faults", json={fault: 1.0})
    try:
        with pytest.raises(error, match="GET /spot/v1/symbols/details"):
            await client.markets(None)
        assert client.stats["calls"] == 2
        await control.patch("/faults", json={fault: 0.0})
        assert await client.markets(None) == SIM_MARKETS
    finally:
        await client.aclose()
