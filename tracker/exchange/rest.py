"""REST clients for the seed and for order detail: v2 (the documented default) and v4.

Both hand back raw row dicts; `tracker.codec` validates them. What lives here is transport:
authentication, clock-skew correction, pacing and retries; which page to read next is
decided by the cursors of `tracker.pagination`. Every call is bounded in time and in size
(`_exchange`), so no answer from the exchange can hang the daemon or fill its memory.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import structlog

from tracker.credentials import Credentials
from tracker.exchange.errors import (
    AuthError,
    BadResponse,
    ClockSkew,
    ExchangeError,
    NotFound,
    RateLimited,
    Unreachable,
    credential_hint,
)
from tracker.exchange.ratelimit import Pacer, Window
from tracker.pagination import Keep, Row, Seed, V2Cursor, V2Page, V4Cursor
from tracker.venues.bitmart import signing
from tracker.venues.bitmart.protocol import (
    RATE_LIMIT_LIMIT,
    RATE_LIMIT_RESET,
    RATE_LIMIT_USED,
    V4_CLOCK_CODES,
    V4_CREDENTIAL_CODES,
    V4_ORDER_NOT_FOUND,
    V4_RATE_LIMITED,
    V4_SUCCESS,
)

log = structlog.get_logger("tracker.rest")

Progress = Callable[[str, int, int], None]  # (symbol, rows so far, rows expected)


class RestApi(Protocol):
    stats: Counter[str]
    skew_ms: int

    async def sync_clock(self) -> None: ...

    async def seed(self, symbol: str | None, progress: Progress | None = None,
                   keep: Keep | None = None) -> Seed: ...

    async def order_detail(self, order_id: str) -> Row: ...

    async def aclose(self) -> None: ...


def _now_ms() -> int:
    return int(time.time() * 1000)


def _backoff(attempt: int, base: float = 0.25, cap: float = 8.0) -> float:
    return random.uniform(0, min(cap, base * 2 ** attempt))  # full jitter


@dataclass(frozen=True)
class Answer:
    """An exchange answer read in full (and within its limits)."""

    status_code: int
    headers: httpx.Headers
    content: bytes


class _Base:
    def __init__(self, base_url: str, credentials: Credentials, *, timeout: float = 10.0,
                 retries: int = 4, max_bytes: int = 16 << 20) -> None:
        # TLS is verified against the system's trust store (httpx's default); there is no
        # switch to turn that off. httpx's own timeouts bound each read, which a trickling
        # answer defeats; `timeout` is instead the deadline of a whole call, in `_exchange`.
        self.http = httpx.AsyncClient(base_url=base_url, timeout=None,
                                      headers={"User-Agent": "open-order-tracker"})
        self.credentials = credentials
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retries = retries
        self.skew_ms = 0  # server clock minus ours
        self.stats: Counter[str] = Counter()

    async def aclose(self) -> None:
        await self.http.aclose()

    def timestamp(self) -> str:
        return str(_now_ms() + self.skew_ms)

    async def _exchange(self, request: httpx.Request) -> Answer:
        """The one way out to the exchange: from connect to the last byte within `timeout`,
        and at most `max_bytes` of (decoded) body, or a retryable ExchangeError."""
        what = f"{request.method} {request.url.path}"
        self.stats["calls"] += 1
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.http.send(request, stream=True)
                try:
                    body = await self._read(what, response)
                finally:
                    await response.aclose()  # a refused or late answer's connection is dropped
        except TimeoutError:
            self.stats["errors_deadline"] += 1
            log.warning("rest_deadline", call=what, deadline_s=self.timeout)
            raise Unreachable(f"{what}: no complete answer within the "
                                f"{self.timeout:g} s deadline (rest_timeout)") from None
        except httpx.TransportError as exc:
            self.stats["errors_transport"] += 1
            raise Unreachable(f"{what}: {type(exc).__name__}") from None
        except httpx.DecodingError:  # a Content-Encoding the body does not follow
            self.stats["errors_decoding"] += 1
            raise BadResponse(f"{what}: the body does not decode") from None
        return Answer(response.status_code, response.headers, body)

    async def _read(self, what: str, response: httpx.Response) -> bytes:
        declared = _header_int(response.headers, "Content-Length")
        if declared is not None and declared > self.max_bytes:
            raise self._too_large(what, declared)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise self._too_large(what, None)
        return bytes(body)

    def _too_large(self, what: str, declared: int | None) -> ExchangeError:
        self.stats["errors_too_large"] += 1
        log.warning("rest_too_large", call=what, max_bytes=self.max_bytes,
                    content_length=declared)
        return ExchangeError(f"{what}: answer larger than {self.max_bytes} bytes "
                             "(rest_max_bytes)")

    async def _measure_skew(self, path: str, *keys: str) -> None:
        """The server's clock minus ours, from the answer's `keys` (a path into objects)."""
        before = _now_ms()
        response = await self._exchange(self.http.build_request("GET", path))
        after = _now_ms()
        if response.status_code != 200:
            self.stats[f"errors_http_{response.status_code}"] += 1
            error = RateLimited if response.status_code == 429 else ExchangeError
            raise error(f"GET {path}: {_message(response)}")
        server = _json(response)
        for key in keys:
            server = server.get(key) if isinstance(server, dict) else None
        if isinstance(server, bool) or not isinstance(server, int):
            raise BadResponse(f"{path}: server time is not an integer")
        self.skew_ms = server - (before + after) // 2
        if abs(self.skew_ms) > 1000:
            log.warning("clock_skew", skew_ms=self.skew_ms)

    async def _send(self, request: httpx.Request, pacer: Pacer) -> Answer:
        await pacer.wait()  # our own pacing is not the exchange's time: outside the deadline
        return await self._exchange(request)

    async def _retrying(self, what: str, attempt_fn: Callable[[], Any]) -> Any:
        """Run one call with bounded retries on transient failures, with jittered backoff."""
        last: ExchangeError | None = None
        for attempt in range(self.retries + 1):
            try:
                return await attempt_fn()
            except ExchangeError as exc:
                if not exc.retryable:
                    raise
                last = exc
                if attempt == self.retries:
                    break
                delay = _backoff(attempt)
                log.warning("rest_retry", call=what, error=str(exc), attempt=attempt + 1,
                            delay_s=round(delay, 3))
                await asyncio.sleep(delay)
        assert last is not None
        raise last


def _json(response: Answer) -> Any:
    # BitMart has sent JSON labelled text/plain; parse whatever the content type says.
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadResponse(f"HTTP {response.status_code}: body is not JSON") from None


def _header_int(headers: httpx.Headers, name: str) -> int | None:
    """A header's non-negative integer, or None (ASCII digits only: `str.isdigit` also
    accepts '²', which `int` refuses)."""
    value = headers.get(name, "")
    return int(value) if re.fullmatch(r"[0-9]{1,12}", value) else None


def _retry_after(response: Answer, default: float) -> float:
    """Seconds from a `Retry-After` header (the delta form), else `default`."""
    seconds = _header_int(response.headers, "Retry-After")
    return default if seconds is None else seconds


def _message(response: Answer) -> str:
    """The status and the exchange's own words: v2 errors say them in `message`, and its
    rate limiter in `msg` ({"code": -30, "msg": "Visit too often..."})."""
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("message", "msg"):
            if isinstance(text := body.get(key), str):
                return f"HTTP {response.status_code}: {text[:200]}"
    return f"HTTP {response.status_code}"


class V2Rest(_Base):
    """`/v2` with bearer tokens: refreshed before their 900 s run out, and once on a 401."""

    TOKEN_MARGIN = 0.8  # refresh at 80% of the announced lifetime

    def __init__(self, base_url: str, credentials: Credentials, *, page_size: int = 100,
                 rate: float = 10.0, max_passes: int = 4, **kwargs: Any) -> None:
        super().__init__(base_url, credentials, **kwargs)
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
                raise AuthError(f"token refused ({_message(response)}): "
                                f"{credential_hint(None)}")
            if response.status_code == 429:
                self.token_pacer.hold(_retry_after(response, self.token_pacer.period /
                                                   self.token_pacer.calls))
                raise RateLimited(f"token request: {_message(response)}")
            if response.status_code != 200:
                raise ExchangeError(f"token request: {_message(response)}")
            body = _json(response)
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
            return _json(response)
        self.stats[f"errors_http_{status}"] += 1
        if status == 404:
            raise NotFound(f"GET {path}: {_message(response)}")
        if status == 429:
            self.pacer.hold(1.0)
            raise RateLimited(f"GET {path}: {_message(response)}")
        if status == 400 and "X-BM-TIMESTAMP" in _message(response):
            self.skew_ms = 0  # the clock moved: re-measured before the retry
            asyncio.get_running_loop().create_task(self.sync_clock())
            raise ClockSkew(f"GET {path}: {_message(response)}")
        if status in (401, 403):
            raise AuthError(f"GET {path}: {_message(response)}")
        raise ExchangeError(f"GET {path}: {_message(response)}")

    async def order_detail(self, order_id: str) -> Row:
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
                          began_ms=_now_ms() + self.skew_ms, keep=keep)  # server time
        while (page := cursor.next_request()) is not None:
            tally = cursor.take(*await self._page(page))
            if progress:
                progress(symbol, tally.read, tally.expected)
        if cursor.unsettled:
            self.stats["seed_unsettled"] += 1
            log.warning("seed_unsettled", symbol=symbol, passes=self.max_passes)
        return cursor.result()


class V4Rest(_Base):
    """The current SIGNED POST query endpoints, paced to the published per-key limits."""

    def __init__(self, base_url: str, credentials: Credentials, *, since_ms: int = 0,
                 page_size: int = 200, **kwargs: Any) -> None:
        super().__init__(base_url, credentials, **kwargs)
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
            body = _json(response)
        except BadResponse:
            self.stats[f"errors_http_{status}"] += 1
            raise
        code = body.get("code") if isinstance(body, dict) else None
        if status == 200 and code == V4_SUCCESS:
            used = _header_int(response.headers, RATE_LIMIT_USED)
            limit = _header_int(response.headers, RATE_LIMIT_LIMIT)
            reset = _header_int(response.headers, RATE_LIMIT_RESET)
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
            pacer.hold(_header_int(response.headers, RATE_LIMIT_RESET) or 1.0)
            raise RateLimited(what)
        if code in V4_CLOCK_CODES:
            asyncio.get_running_loop().create_task(self.sync_clock())
            raise ClockSkew(what)
        if code in V4_CREDENTIAL_CODES:
            raise AuthError(f"{what}: {credential_hint(code)}")
        raise ExchangeError(what)

    async def order_detail(self, order_id: str) -> Row:
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
