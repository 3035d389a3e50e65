"""The transport every venue's REST client is built on: a bounded call (`HttpClient`) and
the readings of an answer that do not depend on a venue. Which page to read next is the
venue's cursors' business, what an answer means its client's."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from tracker.exchange.errors import (
    BadResponse,
    ExchangeError,
    RateLimited,
    TooLarge,
    Unreachable,
)
from tracker.exchange.ratelimit import Pacer

log = structlog.get_logger("tracker.rest")

USER_AGENT = "open-order-tracker"


def now_ms() -> int:
    return int(time.time() * 1000)


def backoff(attempt: int, base: float = 0.25, cap: float = 8.0) -> float:
    return random.uniform(0, min(cap, base * 2 ** attempt))  # full jitter


@dataclass(frozen=True)
class Answer:
    """An exchange answer read in full (and within its limits)."""

    status_code: int
    headers: httpx.Headers
    content: bytes


class HttpClient:
    """The bounded exchange call every venue's REST client is built on: one deadline per
    call, a cap on the body, retries with jittered backoff, and the clock's skew."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, retries: int = 4,
                 max_bytes: int = 16 << 20) -> None:
        # TLS is verified against the system's trust store (httpx's default); there is no
        # switch to turn that off. httpx's own timeouts bound each read, which a trickling
        # answer defeats; `timeout` is instead the deadline of a whole call, in `_exchange`.
        self.http = httpx.AsyncClient(base_url=base_url, timeout=None,
                                      headers={"User-Agent": USER_AGENT})
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retries = retries
        self.skew_ms = 0  # server clock minus ours
        self.stats: Counter[str] = Counter()

    async def aclose(self) -> None:
        await self.http.aclose()

    def timestamp(self) -> str:
        return str(now_ms() + self.skew_ms)

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
        declared = header_int(response.headers, "Content-Length")
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
        return TooLarge(f"{what}: answer larger than {self.max_bytes} bytes "
                        "(rest_max_bytes)")

    async def _measure_skew(self, path: str, *keys: str) -> None:
        """The server's clock minus ours, from the answer's `keys` (a path into objects)."""
        before = now_ms()
        response = await self._exchange(self.http.build_request("GET", path))
        after = now_ms()
        if response.status_code != 200:
            self.stats[f"errors_http_{response.status_code}"] += 1
            error = RateLimited if response.status_code == 429 else ExchangeError
            raise error(f"GET {path}: {error_text(response)}")
        server = parse_json(response)
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
                delay = backoff(attempt)
                log.warning("rest_retry", call=what, error=str(exc), attempt=attempt + 1,
                            delay_s=round(delay, 3))
                await asyncio.sleep(delay)
        assert last is not None
        raise last


def parse_json(response: Answer) -> Any:
    """Exchanges send JSON labelled text/plain (BitMart has): whatever the type says, parse.
    What `json.loads` cannot read is a bad answer, whichever error says so: a syntax error,
    bytes that are not UTF-8, an integer longer than Python converts (4,300 digits: a
    ValueError), nesting deeper than it recurses."""
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are both
        raise BadResponse(f"HTTP {response.status_code}: body is not JSON") from None


def header_int(headers: httpx.Headers, name: str) -> int | None:
    """A header's non-negative integer, or None (ASCII digits only: `str.isdigit` also
    accepts '²', which `int` refuses)."""
    value = headers.get(name, "")
    return int(value) if re.fullmatch(r"[0-9]{1,12}", value) else None


def retry_after(response: Answer, default: float) -> float:
    """Seconds from a `Retry-After` header (the delta form), else `default`."""
    seconds = header_int(response.headers, "Retry-After")
    return default if seconds is None else seconds


def error_text(response: Answer) -> str:
    """The status and the exchange's own words, in `message` or `msg`, where exchanges put
    them (BitMart's v2 errors in the first, its rate limiter and Binance in the second)."""
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("message", "msg"):
            if isinstance(text := body.get(key), str):
                return f"HTTP {response.status_code}: {text[:200]}"
    return f"HTTP {response.status_code}"
