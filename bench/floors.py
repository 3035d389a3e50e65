"""The seed's floors: the requests a seed must send, as bare HTTP fetches paced as the
venue allows, their answers read and dropped. What a seed takes beyond this is the
tracker's; what it takes up to this, any client of the venue would take.

BitMart's v2 pages go at the tracker's configured calls a second (`REST_RATE`), v4's at
BitMart's published list pace; Binance's unpaginated `openOrders` answers are limited by
request weight a minute, so its floor is the longer of the requests' own time and the
minutes the weight budget forces them to wait for; OKX's `orders-pending` pages likewise,
by the windows its 60 requests in any 2 s force.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from harness import CREDENTIALS
from tracker.config import Config, load
from tracker.exchange.ratelimit import Pacer, Window
from tracker.venues.binance import protocol as binance
from tracker.venues.binance import signing as binance_signing
from tracker.venues.binance.rest import BinanceRest
from tracker.venues.bitmart import protocol, signing
from tracker.venues.bitmart.cursors import V4Window
from tracker.venues.okx import protocol as okx
from tracker.venues.okx import signing as okx_signing

PAGE = 100  # BitMart's page size for the seed
REST_RATE = 50.0  # the tracker's configured v2 calls/s for the seed (the default is 10)
V4_LIST_PACE = (12, 2.0)  # BitMart's published v4 list calls per 2 s, as V4Rest paces them
OKX_WINDOW_SLACK_S = 0.1  # see okx_pending

# (rest_url, the symbols as the venue writes them, open orders per symbol, the REST requests
# the daemon's seed sent, the daemon's environment) -> (seconds, what the floor was)
SeedFloor = Callable[[str, list[str], int, int, Mapping[str, str]],
                     Awaitable[tuple[float, dict[str, Any]]]]


async def bitmart_v2(rest_url: str, symbols: list[str], per_symbol: int, requests: int,
                     env: Mapping[str, str]) -> tuple[float, dict[str, Any]]:
    """As many v2 page requests as the seed sent, at the seed's pace."""
    return (await io_floor(rest_url, symbols, per_symbol, requests),
            {"page_size": PAGE, "rest_rate": REST_RATE})


async def io_floor(rest_url: str, symbols: list[str], per_symbol: int, requests: int,
                   api: str = "v2") -> float:
    """The same number of page requests, paced alike, answers read and dropped: v2's
    bearer-token GETs at REST_RATE, or v4's signed POSTs at the list pace V4Rest keeps. A
    refused request is no page, so any answer but 200 ends the floor with an error."""
    pages = max(-(-per_symbol // PAGE), 1)
    async with httpx.AsyncClient(base_url=rest_url, timeout=30) as http:
        if api == "v2":
            page, pacer = await v2_page_request(http), Pacer(REST_RATE)
        else:
            page, pacer = v4_page_request(http), Pacer(*V4_LIST_PACE)
        started = time.perf_counter()
        for n in range(requests):
            await pacer.wait()
            response = await page(symbols[(n // pages) % len(symbols)], n % pages + 1)
            response.raise_for_status()
        return time.perf_counter() - started


PageRequest = Callable[[str, int], Awaitable[httpx.Response]]


async def v2_page_request(http: httpx.AsyncClient) -> PageRequest:
    """`GET /v2/orders` with a bearer token, obtained before the clock starts (the seed
    holds one too)."""
    api_key, secret, memo = CREDENTIALS.values()
    token = (await http.post("/v2/authentication", data={
        "grant_type": "client_credentials", "client_id": api_key,
        "client_secret": signing.v2_client_secret(api_key, secret, memo)})).json()
    headers = {protocol.AUTHORIZATION_HEADER: f"Bearer {token['access_token']}"}

    async def page(symbol: str, offset: int) -> httpx.Response:
        params = {"symbol": symbol, "status": 5, "offset": offset, "limit": PAGE}
        return await http.get("/v2/orders", params=params, headers=headers | {
            protocol.TIMESTAMP_HEADER: str(int(time.time() * 1000))})

    return page


def v4_page_request(http: httpx.AsyncClient) -> PageRequest:
    """`POST /spot/v4/query/open-orders`, signed as V4Rest signs it. Every page asks for
    the symbol's newest PAGE rows: the seed's later windows start where the answer before
    ended, which a floor that reads nothing cannot know, and their size is not the pace."""
    api_key, secret, memo = CREDENTIALS.values()
    since_ms = Config().venue_settings.v4_since_ms

    async def page(symbol: str, _: int) -> httpx.Response:
        raw = json.dumps(V4Window(since_ms, PAGE, symbol).body(), separators=(",", ":"))
        stamp = str(int(time.time() * 1000))
        return await http.post("/spot/v4/query/open-orders", content=raw, headers={
            "Content-Type": "application/json", protocol.KEY_HEADER: api_key,
            protocol.TIMESTAMP_HEADER: stamp,
            protocol.SIGN_HEADER: signing.v4_sign(secret, memo, stamp, raw)})

    return page


async def binance_weight(rest_url: str, symbols: list[str], per_symbol: int, requests: int,
                         env: Mapping[str, str]) -> tuple[float, dict[str, Any]]:
    """The `openOrders` requests the daemon's seed chose, the cheaper in weight (one per
    symbol at 6 each, or one for every symbol at 80: its REST client's `whole`), signed
    with the daemon's key, each sent once the weight budget of the daemon's configuration
    allows it in the current minute. The floor is the longer of their own time (the waits
    left out) and the minutes the budget forces: (weight / budget, rounded up, less the
    first) x 60 s, after the wait for REST to catch up with the stream (`rest_lag_ms`):
    Binance's reads trail its engine, so a seed that must show at least the state its
    subscription started from cannot read sooner, whoever reads it (the figure without
    it is given too)."""
    config = load(None, env, {})
    budget: int = config.venue_settings.weight_budget
    key = binance_signing.signer(env["TRACKER_API_SECRET"])
    rest = config.adapter.rest(config)
    assert isinstance(rest, BinanceRest)
    plan: list[str | None] = [None] if rest.whole else list(symbols)
    await rest.aclose()
    headers = {binance.API_KEY_HEADER: env["TRACKER_API_KEY"]}
    async with httpx.AsyncClient(base_url=rest_url, timeout=60) as http:
        io_s, read = await _binance_reads(http, plan, headers, key, config, budget)
        if plan == [None] and read > config.rest_max_bytes:
            # Past rest_max_bytes the daemon reads a symbol at a time, as a client that
            # knew the size would from the start: the floor is those reads.
            plan = list(symbols)
            io_s, read = await _binance_reads(http, plan, headers, key, config, budget)
    weight = _weight_each(plan) * len(plan)
    forced_s = 60.0 * (math.ceil(weight / budget) - 1)
    lag_s = config.venue_settings.rest_lag_ms / 1000
    return lag_s + max(io_s, forced_s), {
        "rest_lag_s": lag_s, "floor_without_lag_s": round(max(io_s, forced_s), 3),
        "open_orders_requests": len(plan), "weight": weight, "weight_budget": budget,
        "floor_bytes": read, "floor_io_s": round(io_s, 3),
        "weight_forced_s": round(forced_s, 2)}


def _weight_each(plan: list[str | None]) -> int:
    """What one openOrders read of the plan weighs: 80 for every symbol, 6 for one."""
    return (binance.OPEN_ORDERS_WEIGHT_ALL if plan == [None]
            else binance.OPEN_ORDERS_WEIGHT_SYMBOL)


async def _binance_reads(http: httpx.AsyncClient, plan: list[str | None],
                         headers: dict[str, str], key: Any, config: Any,
                         budget: int) -> tuple[float, int]:
    """The plan's openOrders reads, each once the minute's weight budget allows it: their
    own time (the waits left out) and the bytes read."""
    each = _weight_each(plan)
    io_s, used, window, read = 0.0, 0, time.monotonic(), 0
    for symbol in plan:
        if used + each > budget:  # the minute's budget is spent: wait for the next one
            await asyncio.sleep(max(window + 60 - time.monotonic(), 0))
            used, window = 0, time.monotonic()
        params: list[tuple[str, object]] = [] if symbol is None else [("symbol", symbol)]
        params += [("recvWindow", config.venue_settings.recv_window_ms),
                   ("timestamp", int(time.time() * 1000))]
        query = binance_signing.payload(params)
        url = f"{binance.OPEN_ORDERS}?{query}&signature={quote(key.sign(query), safe='')}"
        started = time.perf_counter()
        response = await http.get(url, headers=headers)
        response.raise_for_status()
        read += len(response.content)  # read, not parsed
        io_s += time.perf_counter() - started
        used += each
    return io_s, read


async def okx_pending(rest_url: str, symbols: list[str], per_symbol: int, requests: int,
                      env: Mapping[str, str]) -> tuple[float, dict[str, Any]]:
    """The seed's `orders-pending` pages, one instrument after another, each page `after`
    the last ordId of the one before until a short page, as the daemon's cursor reads
    them, signed with the daemon's key, at its page size. OKX allows 60 of them in any 2 s
    (per User ID), so the floor is the longer of their own time (the waits left out) and
    the windows the limit forces: (pages / 60, rounded up, less the first) x 2 s. They are
    sent in bursts of 60 a window and a little (`OKX_WINDOW_SLACK_S`): the server counts
    arrivals, which trail sends by a varying few milliseconds, so a window of exactly 2 s
    on the sender's clock is now and then one too many on the server's (429). Each answer
    is only searched for its rows' count and last ordId, the least a next page needs; a
    refusal ends the floor with an error."""
    page_size = load(None, env, {}).page_size
    api_key, secret = env["TRACKER_API_KEY"], env["TRACKER_API_SECRET"]
    passphrase = env["TRACKER_PASSPHRASE"]
    window = Window(okx.ORDERS_PENDING_RATE, okx.RATE_WINDOW_S + OKX_WINDOW_SLACK_S)
    pages = read = 0
    io_s = 0.0
    # The daemon's own seed has just read on the same key: its last pages leave the window.
    await asyncio.sleep(okx.RATE_WINDOW_S + OKX_WINDOW_SLACK_S)
    async with httpx.AsyncClient(base_url=rest_url, timeout=30) as http:
        for symbol in symbols:
            after: str | None = None
            while True:
                params = [("instType", okx.SPOT), ("instId", symbol)]
                params += [(okx.AFTER, after)] if after else []
                target = f"{okx.ORDERS_PENDING}?{urlencode([*params, ('limit', page_size)])}"
                await window.wait()
                started = time.perf_counter()
                stamp = okx_signing.iso_timestamp(int(time.time() * 1000))
                response = await http.get(target, headers={
                    okx.ACCESS_KEY: api_key, okx.ACCESS_TIMESTAMP: stamp,
                    okx.ACCESS_PASSPHRASE: passphrase,
                    okx.ACCESS_SIGN: okx_signing.rest_sign(secret, stamp, "GET", target)})
                response.raise_for_status()
                rows, after = _okx_rows(response.content)
                io_s += time.perf_counter() - started
                pages, read = pages + 1, read + len(response.content)
                if rows < page_size:
                    break
    forced_s = okx.RATE_WINDOW_S * (math.ceil(pages / okx.ORDERS_PENDING_RATE) - 1)
    return max(io_s, forced_s), {
        "page_size": page_size, "orders_pending_requests": pages,
        "rate": f"{okx.ORDERS_PENDING_RATE} per {okx.RATE_WINDOW_S:g} s",
        "rate_forced_s": round(forced_s, 2), "floor_io_s": round(io_s, 3),
        "floor_bytes": read}


ORD_ID = b'"ordId":"'


def _okx_rows(body: bytes) -> tuple[int, str | None]:
    """An orders-pending answer's row count and last ordId, by a byte search: every row
    has one `ordId`, and nothing else in the answer is named so."""
    at = body.rfind(ORD_ID)
    if at < 0:
        return 0, None
    start = at + len(ORD_ID)
    return body.count(ORD_ID), body[start:body.index(b'"', start)].decode()
