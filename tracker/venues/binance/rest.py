"""Binance's REST side: the seed (`GET /api/v3/openOrders`), the order lookup (`GET
/api/v3/order`), the markets (`GET /api/v3/exchangeInfo`) and the server's clock, signed
and kept within the IP's request weight.

Every call asks `tracker.venues.binance.weights.Weights` first, so that none passes
`weight_budget`, none follows a 429 before its `Retry-After`, and none goes during a ban.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import structlog

from tracker.codec import OrderUpdate
from tracker.exchange.errors import (
    AuthError,
    BadResponse,
    ClockSkew,
    ExchangeError,
    NotFound,
    RateLimited,
    TooLarge,
    UnknownSymbol,
)
from tracker.exchange.http import Answer, HttpClient, now_ms, parse_json
from tracker.exchange.tasks import unreported
from tracker.venue import Keep, Progress, Seed
from tracker.venues.binance import codec, signing
from tracker.venues.binance import protocol as p
from tracker.venues.binance.frames import credential_hint
from tracker.venues.binance.signing import Signer
from tracker.venues.binance.weights import Weights

log = structlog.get_logger("tracker.rest")

# A -2013 ("Order does not exist.") for an order the tracker saw is asked again this much
# later before it is believed: reported transient right after placement
# (github.com/ccxt/binance-api-node/issues/196), and REST reads lag the engine ([BN]
# rest-api.md "Data Sources"). The session waits `grace_period` before the first question.
RECHECK_S = 2.0
# A seed's symbols are served from one read of every symbol for at most this long: a seed
# cut short leaves rows no later seed may take as current.
ROUND_FRESH_S = 60.0


class _AskForLess(TooLarge):
    """Too large, and not worth asking again as it was: the caller will ask for less."""

    retryable = False


class _NoSuchOrder(NotFound):
    """-2013, once: asked again before it is believed."""


class BinanceRest(HttpClient):
    def __init__(self, base_url: str, api_key: str, key: Signer, *,
                 symbols: Iterable[str] | None, recv_window_ms: int = p.RECV_WINDOW_MS,
                 weight_budget: int = 5400, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.api_key = api_key
        self.key = key
        self.recv_window_ms = recv_window_ms
        self.weights = Weights(weight_budget, lambda: now_ms() + self.skew_ms, self.stats)
        self.symbols = None if symbols is None else tuple(symbols)
        # One read of every symbol costs 80, one per symbol 6 each: whichever is less
        # ([BN] rest-api.md "Current open orders").
        self.whole = self.symbols is None or (
            p.OPEN_ORDERS_WEIGHT_SYMBOL * len(self.symbols) > p.OPEN_ORDERS_WEIGHT_ALL)
        # While a seed of configured symbols is served from one read of every symbol: the
        # rows of the symbols not handed out yet, and when they were read.
        self._round: dict[str, list[Any]] = {}
        self._round_at = 0.0
        # While a seed reads a symbol at a time: the next configured symbol's read, begun.
        self._ahead: tuple[str, asyncio.Task[list[Any]]] | None = None
        self.recheck_s = RECHECK_S

    async def aclose(self) -> None:
        self._drop_ahead()
        await super().aclose()

    # -- calls -------------------------------------------------------------------------

    async def _get(self, path: str, params: list[tuple[str, object]], weight: int, *,
                   signed: bool = True, smaller: bool = False,
                   read: Callable[[Answer], Any] = parse_json) -> Any:
        """`smaller`: the caller can ask for less (one symbol at a time), so an answer past
        `rest_max_bytes` is not asked again as it was. `read`: what a 200's body is made
        into."""
        async def attempt() -> Any:
            try:
                return await self._once(path, params, weight, signed, read)
            except TooLarge as exc:
                if smaller:
                    raise _AskForLess(str(exc)) from None
                raise

        return await self._retrying(f"GET {path}", attempt)

    async def _once(self, path: str, params: list[tuple[str, object]], weight: int,
                    signed: bool, read: Callable[[Answer], Any] = parse_json) -> Any:
        await self.weights.admit(weight)
        headers: dict[str, str] = {}
        if signed:
            params = [*params, ("recvWindow", self.recv_window_ms),
                      ("timestamp", self.timestamp())]
            headers[p.API_KEY_HEADER] = self.api_key
        query = signing.payload(params)
        if signed:  # signed as sent: percent-encoded ([BN] CHANGELOG 2025-12-17)
            query += "&signature=" + quote(self.key.sign(query), safe="")
        url = f"{path}?{query}" if query else path
        answer = await self._exchange(self.http.build_request("GET", url, headers=headers))
        self.weights.told(answer)
        return self._check(path, answer, read)

    def _check(self, path: str, answer: Answer,
               read: Callable[[Answer], Any] = parse_json) -> Any:
        status = answer.status_code
        if status == 200:
            return read(answer)
        code, message = _error(answer)
        what = f"GET {path}: HTTP {status} code {code}: {message}"
        self.stats[f"errors_http_{status}"] += 1
        if status in (p.HTTP_RATE_LIMITED, p.HTTP_BANNED):
            self.weights.refused(answer)
            raise RateLimited(what)
        if code == p.NO_SUCH_ORDER:
            raise _NoSuchOrder(what)
        if code == p.ARCHIVED:
            raise NotFound(what)
        if code in p.CLOCK_CODES:
            asyncio.get_running_loop().create_task(self.sync_clock())
            raise ClockSkew(what)
        if code in p.CREDENTIAL_CODES or code == p.UNAUTHORIZED or status == 401:
            raise AuthError(f"{what}: {credential_hint(code)}")
        if code == p.BAD_SYMBOL:
            raise UnknownSymbol(what)
        raise ExchangeError(what)

    async def sync_clock(self) -> None:
        """The server's clock minus ours ([BN] rest-api.md "Check server time")."""
        await self.weights.admit(p.TIME_WEIGHT)
        before = now_ms()
        answer = await self._exchange(self.http.build_request("GET", p.TIME))
        after = now_ms()
        self.weights.told(answer)
        body = self._check(p.TIME, answer)
        server = body.get("serverTime") if isinstance(body, dict) else None
        if isinstance(server, bool) or not isinstance(server, int):
            raise BadResponse(f"{p.TIME}: serverTime is not an integer")
        self.skew_ms = server - (before + after) // 2
        if abs(self.skew_ms) > 1000:
            log.warning("clock_skew", skew_ms=self.skew_ms)

    # -- the seed ----------------------------------------------------------------------

    async def _open_orders(self, symbol: str | None) -> list[Any]:
        return (await self._sized_open_orders(symbol))[0]

    async def _sized_open_orders(self, symbol: str | None) -> tuple[list[Any], int]:
        """The rows of one openOrders read, and the bytes of its answer."""
        params: list[tuple[str, object]] = [] if symbol is None else [("symbol", symbol)]
        weight = p.OPEN_ORDERS_WEIGHT_ALL if symbol is None else p.OPEN_ORDERS_WEIGHT_SYMBOL
        rows, size = await self._get(p.OPEN_ORDERS, params, weight,
                                     smaller=symbol is None and self.symbols is not None,
                                     read=_open_orders_rows)
        if not isinstance(rows, list):
            raise BadResponse("openOrders answer is not a list")
        return rows, size

    async def seed(self, symbol: str | None, progress: Progress | None = None,
                   keep: Keep | None = None) -> Seed:
        """One symbol's open orders (None: every symbol's), in one answer: Binance has no
        pages. With more configured symbols than one read of all costs, a seed reads its
        first symbol alone, then every symbol at once, and serves the others from that
        answer: unless the first symbol's answer says that one for all would pass
        `rest_max_bytes`. Binance builds an answer whole before its first byte, so a
        refused one costs all of its making; the first symbol alone costs 6."""
        if symbol is not None and self.whole and (
                symbol not in self._round or time.monotonic() - self._round_at > ROUND_FRESH_S):
            # a new seed (or one cut short, begun again)
            rows = await self._round_begun(symbol)
        elif symbol is None:
            rows = await self._open_orders(None)
        elif not self.whole:
            rows = await self._symbol_rows(symbol)
        else:
            rows = self._round.pop(symbol)
        if progress:
            progress(symbol or "*", len(rows), len(rows))
        return Seed([keep(r) for r in rows] if keep else rows, passes=1)

    async def _round_begun(self, symbol: str) -> list[Any]:
        """The first symbol's rows of a seed, read alone; every other symbol's read at once
        when their answer will fit, else a symbol at a time from now on."""
        assert self.symbols is not None
        self._round = {}
        rows, size = await self._sized_open_orders(symbol)
        if size * len(self.symbols) > self.max_bytes:
            self._per_symbol(f"{symbol}'s open orders took {size} bytes: all "
                             f"{len(self.symbols)} symbols' at once would pass "
                             f"rest_max_bytes ({self.max_bytes})")
            self._read_ahead(symbol)
            return rows
        try:
            every = await self._open_orders(None)
        except _AskForLess as exc:
            self._per_symbol(str(exc))
            return rows
        self._round = self._sorted(every, symbol)
        self._round_at = time.monotonic()
        return rows + self._round.pop(symbol)  # the rows no symbol could be read from

    def _per_symbol(self, reason: str) -> None:
        """Binance has no pages: the one way to ask for less is a symbol at a time, at 6
        each, from now on."""
        self.whole, self._round = False, {}
        self.stats["seed_per_symbol"] += 1
        log.warning("seed_per_symbol", reason=reason[:200],
                    effect="every symbol read on its own from now on")

    async def _symbol_rows(self, symbol: str) -> list[Any]:
        """One symbol's rows, with the read of the configured symbol after it begun: the
        seed asks for them in the order configured, and Binance builds the next answer
        while this one is decoded and kept. A read begun for any other symbol than the one
        asked for is dropped, so a seed cut short and begun again (at the first symbol)
        never takes rows read before it began."""
        ahead = self._ahead if self._ahead is not None and self._ahead[0] == symbol else None
        if ahead is None:
            self._drop_ahead()
        self._ahead = None
        self._read_ahead(symbol)
        return await (ahead[1] if ahead is not None else self._open_orders(symbol))

    def _read_ahead(self, symbol: str) -> None:
        """The read of the configured symbol after `symbol`, begun."""
        assert self.symbols is not None
        at = self.symbols.index(symbol) + 1 if symbol in self.symbols else len(self.symbols)
        if at < len(self.symbols):
            task = asyncio.create_task(self._open_orders(self.symbols[at]))
            task.add_done_callback(unreported)
            self._ahead = (self.symbols[at], task)

    def _drop_ahead(self) -> None:
        if self._ahead is not None:
            self._ahead[1].cancel()
            self._ahead = None

    def _sorted(self, rows: list[Any], first: str) -> dict[str, list[Any]]:
        """Every symbol's rows of one read but `first`'s (read alone just before); rows of
        symbols not configured are dropped (counted), and one without a readable symbol
        goes with `first`, for the codec to refuse where a person sees it."""
        assert self.symbols is not None
        by_symbol: dict[str, list[Any]] = {s: [] for s in self.symbols}
        for row in rows:
            symbol = (row.symbol if isinstance(row, OrderUpdate) else
                      row.get("symbol") if isinstance(row, dict) else None)
            if not isinstance(symbol, str):
                by_symbol[first].append(row)
            elif symbol == first:
                continue
            elif symbol in by_symbol:
                by_symbol[symbol].append(row)
            else:
                self.stats["seed_rows_other_symbols"] += 1
        return by_symbol

    # -- one order ---------------------------------------------------------------------

    async def order_detail(self, order_id: str, symbol: str | None) -> Any:
        """`GET /api/v3/order` by symbol and orderId. NotFound for -2026 (archived: canceled
        or expired with nothing filled, over 90 days ago) and for a -2013 that a second
        question `RECHECK_S` later confirms."""
        symbol, number = p.split_order_id(order_id)
        if not symbol or not number.isdigit():
            raise NotFound(f"{order_id!r} is not a Binance order (SYMBOL:orderId)")
        params: list[tuple[str, object]] = [("symbol", symbol), ("orderId", number)]
        try:
            answer = await self._get(p.ORDER, params, p.ORDER_WEIGHT)
        except _NoSuchOrder:
            self.stats["detail_rechecks"] += 1
            await asyncio.sleep(self.recheck_s)
            answer = await self._get(p.ORDER, params, p.ORDER_WEIGHT)
        if not isinstance(answer, dict):
            raise BadResponse("order answer is not a JSON object")
        return answer

    # -- markets -----------------------------------------------------------------------

    async def markets(self, symbols: list[str] | None) -> dict[str, tuple[str, str]]:
        """Each symbol's (baseAsset, quoteAsset) from `exchangeInfo`; UnknownSymbol names
        a configured symbol Binance does not list (found by halving the list: Binance's
        -1121 does not say which)."""
        try:
            return await self._exchange_info(symbols)
        except UnknownSymbol as exc:
            if not symbols:
                raise
            while len(symbols) > 1:
                half = symbols[:len(symbols) // 2]
                try:
                    await self._exchange_info(half)
                    symbols = symbols[len(symbols) // 2:]
                except UnknownSymbol:
                    symbols = half
            raise UnknownSymbol(f"symbols: {symbols[0]!r} is not a symbol Binance lists "
                                f"({exc})") from None

    async def _exchange_info(self, symbols: list[str] | None) -> dict[str, tuple[str, str]]:
        params: list[tuple[str, object]] = [] if symbols is None else [
            ("symbols", json.dumps(symbols, separators=(",", ":"), ensure_ascii=False))]
        body = await self._get(p.EXCHANGE_INFO, params, p.EXCHANGE_INFO_WEIGHT, signed=False)
        listed = body.get("symbols") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise BadResponse("exchangeInfo answer lacks its symbols")
        markets = {}
        for entry in listed:
            names = [entry.get(k) if isinstance(entry, dict) else None
                     for k in ("symbol", "baseAsset", "quoteAsset")]
            if not all(isinstance(n, str) and n for n in names):
                raise BadResponse(f"exchangeInfo symbol entry is malformed: {entry!r:.80}")
            markets[names[0]] = (names[1], names[2])
        return markets


def _open_orders_rows(answer: Answer) -> tuple[Any, int]:
    """An `openOrders` answer's rows as updates, where the codec's fast path takes them
    all, else as JSON, each row read by the codec in the seed's `keep`; and its bytes."""
    rows = codec.open_orders_answer(answer.content, codec.SEED_SOURCE) or parse_json(answer)
    return rows, len(answer.content)


def _error(answer: Answer) -> tuple[int | str, str]:
    """Binance's `{"code", "msg"}`; the code is a label from the exchange's bytes, so it
    stays an integer or "malformed"."""
    try:
        body = json.loads(answer.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "none", ""
    code = body.get("code") if isinstance(body, dict) else None
    message = body.get("msg") if isinstance(body, dict) else None
    if isinstance(code, bool) or not isinstance(code, int):
        code = "malformed"
    return code, str(message)[:200] if message is not None else ""
