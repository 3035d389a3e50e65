"""BitMart's REST clients for the seed and for order detail: v2 (the documented default)
and v4.

Both hand back raw row dicts; the codec validates them. What lives here is BitMart's
authentication, clock-skew correction, pacing to its published limits and its error codes;
which page to read next is decided by the cursors of `tracker.venues.bitmart.cursors`, and
every call is bounded in time and in size by the core's `HttpClient`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import structlog

from tracker.exchange.errors import (
    AuthError,
    BadResponse,
    ClockSkew,
    ExchangeError,
    NotFound,
    RateLimited,
)
from tracker.exchange.http import (
    Answer,
    HttpClient,
    error_text,
    header_int,
    now_ms,
    parse_json,
    retry_after,
)
from tracker.exchange.ratelimit import Pacer, Window
from tracker.venue import Keep, Progress, Seed
from tracker.venues.bitmart import codec, signing
from tracker.venues.bitmart.cursors import Row, V2Cursor, V2Page, V4Cursor
from tracker.venues.bitmart.errors import credential_hint
from tracker.venues.bitmart.keys import Keys
from tracker.venues.bitmart.protocol import (
    RATE_LIMIT_LIMIT,
    RATE_LIMIT_RESET,
    RATE_LIMIT_USED,
    SYMBOLS_DETAILS,
    V4_CLOCK_CODES,
    V4_CREDENTIAL_CODES,
    V4_ORDER_NOT_FOUND,
    V4_RATE_LIMITED,
    V4_SUCCESS,
)

log = structlog.get_logger("tracker.rest")
# The public pair list is read once per seed at most; paced all the same, as it counts
# against the host's per-IP limit, which other programs on it may share.
PUBLIC_RATE = 1.0


class BitMartRest(HttpClient):
    """What both REST families share: the markets (`tracker.venue.Rest.markets`)."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.public_pacer = Pacer(PUBLIC_RATE)

    async def markets(self, symbols: list[str] | None) -> dict[str, tuple[str, str]]:
        """The configured symbols split at their `_`, with no call; for every symbol,
        BitMart's public list of pairs."""
        if symbols is not None:
            return codec.split_symbols(symbols)
        return await self._retrying(f"GET {SYMBOLS_DETAILS}", self._listed)

    async def _listed(self) -> dict[str, tuple[str, str]]:
        what = f"GET {SYMBOLS_DETAILS}"
        response = await self._send(self.http.build_request("GET", SYMBOLS_DETAILS),
                                    self.public_pacer)
        status = response.status_code
        if status != 200:
            self.stats[f"errors_http_{status}"] += 1
            if status == 429:
                self.public_pacer.hold(retry_after(response, 1.0))
                raise RateLimited(f"{what}: {error_text(response)}")
            raise ExchangeError(f"{what}: {error_text(response)}")
        body = parse_json(response)
        code = body.get("code") if isinstance(body, dict) else None
        if code != V4_SUCCESS:
            raise ExchangeError(f"{what}: {error_text(response)} (code {str(code)[:20]})")
        pairs = codec.listed_markets(body.get("data"))
        if pairs is None:
            raise BadResponse(f"{what}: data lacks the list of symbols")
        return pairs


class V2Rest(BitMartRest):
    """`/v2` with bearer tokens: refreshed before their 900 s run out, and once on a 401."""

    TOKEN_MARGIN = 0.8  # refresh at 80% of the announced lifetime

    def __init__(self, base_url: str, credentials: Keys, *, page_size: int = 100,
                 rate: float = 10.0, max_passes: int = 4, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.credentials = credentials
        self.page_size = page_size
        self.max_passes = max_passes
        self.pacer = Pacer(rate)
        self.token_pacer = Window(5, 60.0)  # the exchange allows 5 tokens a minute
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._token_lock = asyncio.Lock()

    async def sync_clock(self) -> None:
        await self._measure_skew("/v2/time", "server_time")

    async def _token_value(self, stale: str | None = None) -> str:
        async with self._token_lock:
            if self._token and self._token != stale and time.monotonic() < self._token_renew_at:
                return self._token
            await self.token_pacer.wait()
            c = self.credentials
            form = {"grant_type": "client_credentials", "client_id": c.api_key,
                    "client_secret": signing.v2_client_secret(c.api_key, c.secret, c.memo)}
            self.stats["tokens"] += 1
            response = await self._exchange(
                self.http.build_request("POST", "/v2/authentication", data=form))
            if response.status_code in (400, 401, 403):
                raise AuthError(f"token refused ({error_text(response)}): "
                                f"{credential_hint(None)}")
            if response.status_code == 429:
                self.token_pacer.hold(retry_after(response, self.token_pacer.period /
                                                   self.token_pacer.calls))
                raise RateLimited(f"token request: {error_text(response)}")
            if response.status_code != 200:
                raise ExchangeError(f"token request: {error_text(response)}")
            body = parse_json(response)
            if not isinstance(body, dict):
                raise BadResponse("token answer is not a JSON object")
            token, ttl = body.get("access_token"), body.get("expires_in")
            if not isinstance(token, str) or not isinstance(ttl, int) or ttl <= 0:
                raise BadResponse("token answer lacks access_token or expires_in")
            self._token = token
            self._token_renew_at = time.monotonic() + ttl * self.TOKEN_MARGIN
            return token

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        async def attempt() -> Any:
            token = await self._token_value()
            for refreshed in (False, True):
                request = self.http.build_request("GET", path, params=params, headers={
                    "X-BM-AUTHORIZATION": f"Bearer {token}",
                    "X-BM-TIMESTAMP": self.timestamp()})
                response = await self._send(request, self.pacer)
                if response.status_code == 401 and not refreshed:
                    self.stats["token_refresh_on_401"] += 1
                    token = await self._token_value(stale=token)
                    continue
                return self._check(path, response)
            raise AuthError(f"GET {path}: still unauthorized after a new token")

        return await self._retrying(f"GET {path}", attempt)

    def _check(self, path: str, response: Answer) -> Any:
        status = response.status_code
        if status == 200:
            return parse_json(response)
        self.stats[f"errors_http_{status}"] += 1
        if status == 404:
            raise NotFound(f"GET {path}: {error_text(response)}")
        if status == 429:
            self.pacer.hold(1.0)
            raise RateLimited(f"GET {path}: {error_text(response)}")
        if status == 400 and "X-BM-TIMESTAMP" in error_text(response):
            self.skew_ms = 0  # the clock moved: re-measured before the retry
            asyncio.get_running_loop().create_task(self.sync_clock())
            raise ClockSkew(f"GET {path}: {error_text(response)}")
        if status in (401, 403):
            raise AuthError(f"GET {path}: {error_text(response)}")
        raise ExchangeError(f"GET {path}: {error_text(response)}")

    async def order_detail(self, order_id: str, symbol: str | None) -> Row:
        body = await self._get(f"/v2/orders/{order_id}")
        if not isinstance(body, dict):
            raise BadResponse("order detail is not a JSON object")
        return body

    async def _page(self, page: V2Page) -> tuple[list[Any], int, int]:
        body = await self._get("/v2/orders", page.params())
        if not isinstance(body, dict):
            raise BadResponse("order list is not a JSON object")
        rows, pages, total = body.get("orders"), body.get("total_pages"), body.get("total_orders")
        if not isinstance(rows, list) or not isinstance(pages, int) or not isinstance(total, int):
            raise BadResponse("order list lacks orders, total_pages or total_orders")
        return rows, pages, total

    async def seed(self, symbol: str | None, progress: Progress | None = None,
                   keep: Keep | None = None) -> Seed:
        """Read the pages `V2Cursor` asks for until its passes agree (bounded)."""
        if symbol is None:
            raise ValueError("the v2 list needs a symbol")
        cursor = V2Cursor(symbol, page_size=self.page_size, max_passes=self.max_passes,
                          began_ms=now_ms() + self.skew_ms, keep=keep)  # server time
        while (page := cursor.next_request()) is not None:
            tally = cursor.take(*await self._page(page))
            if progress:
                progress(symbol, tally.read, tally.expected)
        if cursor.unsettled:
            self.stats["seed_unsettled"] += 1
            log.warning("seed_unsettled", symbol=symbol, passes=self.max_passes)
        return cursor.result()


class V4Rest(BitMartRest):
    """The current SIGNED POST query endpoints, paced to the published per-key limits."""

    def __init__(self, base_url: str, credentials: Keys, *, since_ms: int = 0,
                 page_size: int = 200, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.credentials = credentials
        self.since_ms = since_ms
        self.page_size = page_size  # the cursor caps it at the exchange's 200
        self.list_pacer = Pacer(12, 2.0)
        self.detail_pacer = Pacer(50, 2.0)

    async def sync_clock(self) -> None:
        await self._measure_skew("/system/time", "data", "server_time")

    async def _post(self, path: str, body: dict[str, Any], pacer: Pacer) -> Any:
        async def attempt() -> Any:
            raw = json.dumps(body, separators=(",", ":"))
            stamp = self.timestamp()
            c = self.credentials
            request = self.http.build_request("POST", path, content=raw, headers={
                "Content-Type": "application/json", "X-BM-KEY": c.api_key,
                "X-BM-TIMESTAMP": stamp, "X-BM-SIGN": signing.v4_sign(c.secret, c.memo,
                                                                      stamp, raw)})
            response = await self._send(request, pacer)
            return self._check(path, response, pacer)

        return await self._retrying(f"POST {path}", attempt)

    def _check(self, path: str, response: Answer, pacer: Pacer) -> Any:
        status = response.status_code
        try:
            body = parse_json(response)
        except BadResponse:
            self.stats[f"errors_http_{status}"] += 1
            raise
        code = body.get("code") if isinstance(body, dict) else None
        if status == 200 and code == V4_SUCCESS:
            used = header_int(response.headers, RATE_LIMIT_USED)
            limit = header_int(response.headers, RATE_LIMIT_LIMIT)
            reset = header_int(response.headers, RATE_LIMIT_RESET)
            if used is not None and limit is not None and reset is not None and used >= limit:
                pacer.hold(reset)
            return body.get("data")
        if isinstance(code, bool) or not isinstance(code, int):
            code = "malformed"  # a label from the exchange's bytes must stay one of a few
        message = body.get("message") if isinstance(body, dict) else None
        what = f"POST {path}: HTTP {status} code {code}: {str(message)[:200]}"
        self.stats[f"errors_code_{code}"] += 1
        if code == V4_ORDER_NOT_FOUND:
            raise NotFound(what)
        if status == 429 or code == V4_RATE_LIMITED:
            pacer.hold(header_int(response.headers, RATE_LIMIT_RESET) or 1.0)
            raise RateLimited(what)
        if code in V4_CLOCK_CODES:
            asyncio.get_running_loop().create_task(self.sync_clock())
            raise ClockSkew(what)
        if code in V4_CREDENTIAL_CODES:
            raise AuthError(f"{what}: {credential_hint(code)}")
        raise ExchangeError(what)

    async def order_detail(self, order_id: str, symbol: str | None) -> Row:
        data = await self._post("/spot/v4/query/order", {"orderId": order_id},
                                self.detail_pacer)
        if not isinstance(data, dict):
            raise BadResponse("query/order data is not an object")
        return data

    async def seed(self, symbol: str | None, progress: Progress | None = None,
                   keep: Keep | None = None) -> Seed:
        """Read the windows `V4Cursor` asks for, back in time, until it has them all."""
        cursor = V4Cursor(symbol, since_ms=self.since_ms, page_size=self.page_size,
                          keep=keep)
        while (window := cursor.next_request()) is not None:
            rows = await self._post("/spot/v4/query/open-orders", window.body(),
                                    self.list_pacer)
            if not isinstance(rows, list):
                raise BadResponse("open-orders data is not a list")
            tally = cursor.take(rows)
            if progress:
                progress(symbol or "*", tally.read, tally.expected)
        return cursor.result()
