"""OKX's REST side (API v5, spot): the seed (`GET /api/v5/trade/orders-pending`, paged by
`tracker.venues.okx.cursor`), the order lookup (`GET /api/v5/trade/order`), the spot
instruments and the server's clock, signed and paced within OKX's limits (docs/okx.md).

Every answer is OKX's envelope `{"code", "msg", "data"}`, `code` a string and `"0"`
success; a refusal may come with HTTP 200 (`50011`, `51603`), so the code, not the status,
says what happened.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

import structlog

from tracker.exchange.errors import (
    AuthError,
    BadResponse,
    ClockSkew,
    ExchangeError,
    NotFound,
    RateLimited,
    UnknownSymbol,
)
from tracker.exchange.http import Answer, HttpClient, now_ms
from tracker.exchange.ratelimit import Pacer
from tracker.venue import Keep, Progress, Seed
from tracker.venues.okx import protocol as p
from tracker.venues.okx import signing
from tracker.venues.okx.cursor import PendingCursor
from tracker.venues.okx.frames import CREDENTIAL_HINT

log = structlog.get_logger("tracker.rest")

Params = list[tuple[str, str]]
NOT_JSON = "none"  # the code of an answer that is no JSON object


class OkxRest(HttpClient):
    def __init__(self, base_url: str, api_key: str, secret: str, passphrase: str, *,
                 symbols: Iterable[str] | None, demo: bool = False,
                 page_size: int = p.PAGE_MAX, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.page_size = page_size
        self.api_key = api_key
        self.secret = secret
        self.passphrase = passphrase
        self.symbols = None if symbols is None else tuple(symbols)
        # Demo trading is the live host with this header ([OKX] #overview-demo-trading-
        # services); a live key sent with it is refused (50101), and the reverse.
        self.extra = {p.SIMULATED_HEADER: p.DEMO_FLAG} if demo else {}
        self.pending_pacer = Pacer(p.ORDERS_PENDING_RATE, p.RATE_WINDOW_S)  # per User ID
        self.detail_pacers: dict[str, Pacer] = {}  # per User ID and instrument
        self.time_pacer = Pacer(p.TIME_RATE, p.RATE_WINDOW_S)  # per IP
        self.instruments_pacer = Pacer(p.INSTRUMENTS_RATE, p.RATE_WINDOW_S)  # per IP

    # -- calls -------------------------------------------------------------------------

    async def _get(self, path: str, params: Params, pacer: Pacer, *,
                   signed: bool = True) -> list[Any]:
        """The `data` array of one GET, retried on what is transient."""
        return await self._retrying(f"GET {path}",
                                    lambda: self._once(path, params, pacer, signed))

    async def _once(self, path: str, params: Params, pacer: Pacer, signed: bool) -> list[Any]:
        target = f"{path}?{urlencode(params)}" if params else path
        headers = dict(self.extra)
        if signed:  # over the path and query exactly as sent ([OKX] #overview-rest-auth...)
            stamp = signing.iso_timestamp(now_ms() + self.skew_ms)
            headers |= {p.ACCESS_KEY: self.api_key, p.ACCESS_TIMESTAMP: stamp,
                        p.ACCESS_PASSPHRASE: self.passphrase,
                        p.ACCESS_SIGN: signing.rest_sign(self.secret, stamp, "GET", target)}
        answer = await self._send(self.http.build_request("GET", target, headers=headers),
                                  pacer)
        return self._check(path, answer, pacer)

    def _check(self, path: str, answer: Answer, pacer: Pacer) -> list[Any]:
        status = answer.status_code
        code, message, data = _envelope(answer)
        if status == 200 and code == p.SUCCESS:
            if not isinstance(data, list):
                raise BadResponse(f"GET {path}: data is not an array")
            return data
        what = f"GET {path}: HTTP {status} code {code}: {message}"
        self.stats[f"errors_http_{status}"] += 1
        if code == NOT_JSON and status == 200:
            raise BadResponse(f"GET {path}: HTTP 200: the body is not OKX's envelope")
        if code in p.LIMIT_CODES or status == p.HTTP_TOO_MANY:
            # OKX's windows are 2 s long: nothing more goes on this call until one has
            # passed; the retry's own back-off comes on top.
            pacer.hold(p.RATE_WINDOW_S)
            raise RateLimited(what)
        if code == p.ORDER_NOT_FOUND:
            raise NotFound(what)
        if code in p.CLOCK_CODES:
            asyncio.get_running_loop().create_task(self.sync_clock())
            raise ClockSkew(what)
        if code in p.CREDENTIAL_CODES or status == 401:
            raise AuthError(f"{what}: {CREDENTIAL_HINT}")
        if code == p.INSTRUMENT_UNKNOWN:
            raise UnknownSymbol(what)
        raise ExchangeError(what)

    async def sync_clock(self) -> None:
        """The server's clock minus ours, from `GET /api/v5/public/time` (`{"ts": ms}`)."""
        before = now_ms()
        data = await self._once(p.TIME, [], self.time_pacer, signed=False)
        after = now_ms()
        server = data[0].get("ts") if data and isinstance(data[0], dict) else None
        if not isinstance(server, str) or not server.isascii() or not server.isdigit():
            raise BadResponse(f"{p.TIME}: ts is not a number of milliseconds")
        self.skew_ms = int(server) - (before + after) // 2
        if abs(self.skew_ms) > 1000:
            log.warning("clock_skew", skew_ms=self.skew_ms)

    # -- the seed ----------------------------------------------------------------------

    async def seed(self, symbol: str | None, progress: Progress | None = None,
                   keep: Keep | None = None) -> Seed:
        """One instrument's open orders (None: every spot instrument's), newest first, page
        by page with `after` the last ordId read, until a short page: one pass is complete
        (`tracker.venues.okx.cursor`)."""
        cursor = PendingCursor(symbol, limit=self.page_size, keep=keep)
        while (page := cursor.next_request()) is not None:
            rows = await self._get(p.ORDERS_PENDING, page.params(), self.pending_pacer)
            tally = cursor.take(rows)
            if progress:
                progress(symbol or "*", tally.read, tally.expected)
        self.stats["seed_pages"] += cursor.pages
        return cursor.result()

    # -- one order ---------------------------------------------------------------------

    async def order_detail(self, order_id: str, symbol: str | None) -> Any:
        """`GET /api/v5/trade/order` by instId and ordId; NotFound for 51603. OKX looks an
        order up by its instrument: with none held for the order, each configured
        instrument is asked in turn, and with every instrument configured ("*") it cannot
        be asked at all (NotFound, said so)."""
        if not p.ORDER_ID.fullmatch(order_id):
            raise NotFound(f"{order_id!r} is not an OKX ordId")
        if symbol is not None:
            return await self._detail(order_id, symbol)
        if self.symbols is None:
            raise NotFound(f"order {order_id}: its instrument is not known, and OKX looks an "
                           "order up only by instrument")
        for inst_id in self.symbols:
            try:
                return await self._detail(order_id, inst_id)
            except NotFound:
                continue
        raise NotFound(f"order {order_id}: not found in any configured instrument")

    async def _detail(self, order_id: str, inst_id: str) -> Any:
        pacer = self.detail_pacers.setdefault(inst_id, Pacer(p.ORDER_RATE, p.RATE_WINDOW_S))
        data = await self._get(p.ORDER, [("instId", inst_id), ("ordId", order_id)], pacer)
        if not data:
            raise NotFound(f"GET {p.ORDER}: no order {order_id} in {inst_id}")
        if not isinstance(data[0], dict):
            raise BadResponse(f"GET {p.ORDER}: the order is not a JSON object")
        return data[0]

    # -- markets -----------------------------------------------------------------------

    async def markets(self, symbols: list[str] | None) -> dict[str, tuple[str, str]]:
        """Each spot instrument's (baseCcy, quoteCcy), read in one answer; UnknownSymbol
        names a configured instrument OKX does not list."""
        data = await self._get(p.INSTRUMENTS, [("instType", p.SPOT)], self.instruments_pacer,
                               signed=False)
        listed: dict[str, tuple[str, str]] = {}
        for entry in data:
            names = [entry.get(k) if isinstance(entry, dict) else None
                     for k in ("instId", "baseCcy", "quoteCcy")]
            if not all(isinstance(n, str) and n for n in names):
                raise BadResponse(f"instruments entry is malformed: {entry!r:.80}")
            listed[names[0]] = (names[1], names[2])
        if symbols is None:
            return listed
        for symbol in symbols:
            if symbol not in listed:
                raise UnknownSymbol(f"symbols: {symbol!r} is not a spot instrument OKX lists")
        return {s: listed[s] for s in symbols}


def _envelope(answer: Answer) -> tuple[str, str, Any]:
    """OKX's `code`, `msg` and `data`; the code is a label from the exchange's bytes, so
    it stays a short string or "malformed"."""
    try:
        body = json.loads(answer.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return NOT_JSON, "", None
    if not isinstance(body, dict):
        return NOT_JSON, "", None
    code, message = body.get("code"), body.get("msg")
    if not isinstance(code, str) or len(code) > 12:
        code = "malformed"
    return code, str(message)[:200] if message is not None else "", body.get("data")
