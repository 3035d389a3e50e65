"""The current REST face (protocol §2): SIGNED POST queries in the code/message/trace/data
envelope, with BitMart's rate-limit headers (where "Remaining" means calls used so far).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from simulator.faces.bitmart.replies import v4_error, v4_response
from simulator.faces.bitmart.venue import VENUE_KEY, Venue
from simulator.faces.bitmart.wire import v4_order, v4_trade
from simulator.state import AccountState, Simulator
from simulator.store import CLIENT_ID, OrderError, SimOrder
from tracker.venues.bitmart import protocol, signing

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000
DEFAULT_RECV_WINDOW = 5000
# A Java Long written in ASCII digits (str.isdigit() also takes "²" and Arabic-Indic digits).
LONG_TEXT = re.compile(r"[0-9]{1,19}")
MAX_LONG = 2**63 - 1
# Amounts beyond this would overflow the order store's fixed-scale decimals (price x size
# quantized to 8 places must fit the 28-digit decimal context); the venue has its own caps.
MAX_AMOUNT = Decimal(10) ** 9

Body = dict[str, Any]
# An endpoint answers for the account whose key signed the request, from its orders only.
Endpoint = Callable[[Venue, AccountState, Body], Awaitable[web.Response]]


class Rejected(Exception):
    """A request error in the envelope: (HTTP status, BitMart code, message)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def routes() -> list[web.RouteDef]:
    return [
        web.get("/system/time", system_time),
        web.post("/spot/v4/query/open-orders", signed("open-orders", open_orders)),
        web.post("/spot/v4/query/order", signed("order", query_order)),
        web.post("/spot/v4/query/order-trades", signed("order-trades", order_trades)),
        web.post("/spot/v2/submit_order", signed("submit", submit_order)),
        web.post("/spot/v3/cancel_order", signed("cancel", cancel_order)),
    ]


async def system_time(request: web.Request) -> web.Response:
    venue = request.app[VENUE_KEY]
    return v4_response(venue, {"server_time": venue.sim.now_ms()})


def _as_long(value: Any) -> int | None:
    """A JSON Long: an integer, or a string of ASCII digits; None if it is neither."""
    if isinstance(value, str) and LONG_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LONG:
        return None
    return value


def _authenticate(sim: Simulator, request: web.Request,
                  data: bytes) -> tuple[AccountState, Body]:
    key = request.headers.get(protocol.KEY_HEADER, "")
    if not key:
        raise Rejected(401, protocol.V4_KEY_EMPTY, "Header X-BM-KEY is empty")
    account = sim.by_key.get(key)
    if account is None:
        raise Rejected(401, protocol.V4_KEY_UNKNOWN, "Header X-BM-KEY not found")
    sign = request.headers.get(protocol.SIGN_HEADER, "")
    if not sign:
        raise Rejected(401, protocol.V4_SIGN_EMPTY, "Header X-BM-SIGN is empty")
    stamp = request.headers.get(protocol.TIMESTAMP_HEADER, "")
    ts = _as_long(stamp)
    if ts is None:
        raise Rejected(401, protocol.V4_TIMESTAMP_MISSING,
                       "Header X-BM-TIMESTAMP is empty or not a Long")
    # The signature covers the exact body bytes, so they are decoded as UTF-8 (JSON's own
    # encoding) whatever charset the Content-Type claims; anything else is not JSON.
    try:
        raw = data.decode("utf-8")
        body = json.loads(raw) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Rejected(503, 30018, "Request body must be JSON") from None
    if not isinstance(body, dict):
        raise Rejected(503, 30018, "Request body must be a JSON object")
    window = _as_long(body.get("recvWindow", DEFAULT_RECV_WINDOW))
    if window is None or not 0 < window <= 60_000:
        raise Rejected(401, protocol.V4_TIMESTAMP_RANGE,
                       "recvWindow must be an integer in (0, 60000]")
    now = sim.now_ms()
    if not (ts < now + 1000 and now - ts <= window):
        raise Rejected(401, protocol.V4_TIMESTAMP_RANGE,
                       "Header X-BM-TIMESTAMP range. Within a minute or the recvWindow")
    memo, secret = account.credentials.memo, account.credentials.secret
    expected = signing.v4_sign(secret, memo, stamp, raw)
    if not signing.constant_time_equal(sign, expected):
        raise Rejected(401, protocol.V4_SIGN_WRONG, "Header X-BM-SIGN is wrong")
    return account, body


def signed(bucket: str, endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Authenticate, rate-limit per key, then run the endpoint; errors keep the envelope."""

    async def handler(request: web.Request) -> web.Response:
        venue = request.app[VENUE_KEY]
        sim = venue.sim
        data = await request.read()
        try:
            account, body = _authenticate(sim, request, data)
        except Rejected as exc:
            return v4_error(venue, exc.status, exc.code, exc.message)
        limit = venue.limits[account.name].v4[bucket]
        verdict = limit.hit(account.credentials.api_key, sim.now_ms())
        if not verdict.allowed:
            sim.stats["v4_rate_limited"] += 1
            return v4_error(venue, 429, protocol.V4_RATE_LIMITED, "Request too many requests",
                            verdict.headers())
        try:
            response = await endpoint(venue, account, body)
        except Rejected as exc:
            response = v4_error(venue, exc.status, exc.code, exc.message)
        response.headers.update(verdict.headers())
        return response

    return handler


def _long(body: Body, name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    number = _as_long(value)
    if number is None:
        raise Rejected(400, 50021, f"Invalid {name}")
    return number


def _decimal(body: Body, name: str) -> Decimal | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise Rejected(400, 50021, f"Invalid {name}") from None
    if not number.is_finite() or number <= 0 or number >= MAX_AMOUNT:
        raise Rejected(400, 50021, f"Invalid {name}")
    return number


def _symbol(account: AccountState, body: Body, required: bool) -> str | None:
    symbol = body.get("symbol")
    if symbol is None and not required:
        return None
    if not isinstance(symbol, str) or symbol not in account.store.symbols:
        raise Rejected(400, 50001, "Symbol not found")
    return symbol


async def open_orders(venue: Venue, account: AccountState, body: Body) -> web.Response:
    sim, store = venue.sim, account.store
    symbol = _symbol(account, body, required=False)
    mode = body.get("orderMode")
    if mode not in (None, "spot", "iso_margin"):
        raise Rejected(400, 51007, "order_mode not found")
    start, end = _long(body, "startTime"), _long(body, "endTime")
    if start is not None and end is not None and end <= start:
        raise Rejected(400, 52004, "The endTime must be greater than the startTime")
    limit = body.get("limit", protocol.V4_PAGE_MAX)
    if isinstance(limit, bool) or not isinstance(limit, int) or not (
            1 <= limit <= protocol.V4_PAGE_MAX):
        raise Rejected(400, 50021, f"Invalid limit: 1 to {protocol.V4_PAGE_MAX}")
    if start is None and end is None:
        start = sim.now_ms() - SEVEN_DAYS_MS  # the documented 7-day default window
    rows = [
        o for o in store.open_orders(symbol)
        if mode != "iso_margin"
        and (start is None or o.create_time >= start)
        and (end is None or o.create_time <= end)
    ]
    rows.sort(key=lambda o: (o.create_time, int(o.order_id)), reverse=True)
    data = [v4_order(o, store.symbols[o.symbol], sim.settings.amounts)
            for o in rows[:limit]]
    response = v4_response(venue, data)
    sim.shift_between_pages(account, symbol)
    return response


def _find(sim: Simulator, account: AccountState, body: Body) -> SimOrder:
    """The caller's order of that id: another account's is as unknown as one that never was."""
    order_id = body.get("orderId")
    if not isinstance(order_id, str) or not order_id:
        raise Rejected(400, 50000, "orderId is required")
    order = account.store.orders.get(order_id)
    if order is None or sim.lagging(order):
        raise Rejected(400, protocol.V4_ORDER_NOT_FOUND, "Order Id not found")
    return order


async def query_order(venue: Venue, account: AccountState, body: Body) -> web.Response:
    sim = venue.sim
    query_state = body.get("queryState")
    if query_state not in (None, "open", "history"):
        raise Rejected(400, 52003, "Unsupported query state")
    order = _find(sim, account, body)
    if query_state is not None and (query_state == "open") != (order.state in protocol.OPEN_STATES):
        raise Rejected(400, protocol.V4_ORDER_NOT_FOUND, "Order Id not found")
    retention_ms = sim.settings.cancel_retention_s * 1000
    if order.state == "canceled" and sim.now_ms() - order.update_time > retention_ms:
        # Unfilled cancels are only queryable for about 20 minutes (protocol §2.5).
        raise Rejected(400, protocol.V4_ORDER_NOT_FOUND, "Order Id not found")
    return v4_response(venue, v4_order(order, account.store.symbols[order.symbol],
                                       sim.settings.amounts))


async def order_trades(venue: Venue, account: AccountState, body: Body) -> web.Response:
    sim = venue.sim
    order_id = body.get("orderId")
    if not isinstance(order_id, str) or not order_id:
        raise Rejected(400, 50000, "orderId is required")
    order = account.store.orders.get(order_id)
    if order is None:
        raise Rejected(400, protocol.V4_ORDER_NOT_FOUND, "Order Id not found")
    spec = account.store.symbols[order.symbol]
    # Under REST lag an order younger than the lag is unknown, and an older one lists only
    # the fills older than the lag. (The order-level `lagging` check would turn every fresh
    # fill into 50005, which clients read as "this order does not exist".)
    lag = sim.faults.rest_lag_ms
    horizon = sim.now_ms() - lag
    if lag and order.create_time > horizon:
        sim.injected["rest_lag"] += 1
        raise Rejected(400, protocol.V4_ORDER_NOT_FOUND, "Order Id not found")
    fills = [f for f in order.fills if not lag or f.time <= horizon]
    if len(fills) < len(order.fills):
        sim.injected["rest_lag"] += 1
    return v4_response(venue, [v4_trade(order, f, spec, sim.settings.amounts)
                               for f in reversed(fills)])


async def submit_order(venue: Venue, account: AccountState, body: Body) -> web.Response:
    store = account.store
    symbol = _symbol(account, body, required=True)
    assert symbol is not None
    side, type_ = body.get("side"), body.get("type", "limit")
    client_id = body.get("client_order_id")
    if client_id is not None:
        if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
            raise Rejected(400, 50038, "client_order_id must be 1 to 32 letters and digits")
        if any(o.client_order_id == client_id for o in store.orders.values()):
            raise Rejected(400, 50042, "Duplicate clientOrderId")
    try:
        if type_ in ("limit", "limit_maker"):
            price, size = _decimal(body, "price"), _decimal(body, "size")
            if price is None or size is None:
                raise Rejected(400, 50021, "Invalid price or size")
            order = store.place_limit(symbol, str(side), price, size, client_id)
        elif type_ == "market":
            size = _decimal(body, "size")
            if side == "sell" and size is not None and store.symbols[symbol].size(size) <= 0:
                # Below one lot: the store would record a "filled" order with nothing filled.
                raise Rejected(400, 50021, "Invalid size")
            order = store.place_market(symbol, str(side), size=size,
                                           notional=_decimal(body, "notional"),
                                           client_order_id=client_id)
        else:
            raise Rejected(400, 50021, f"Invalid type {type_!r}")
    except OrderError as exc:
        raise Rejected(400, 50021, str(exc)) from None
    return v4_response(venue, {"order_id": order.order_id})


async def cancel_order(venue: Venue, account: AccountState, body: Body) -> web.Response:
    store = account.store
    symbol = _symbol(account, body, required=True)
    order_id, client_id = body.get("order_id"), body.get("client_order_id")
    if not order_id and not client_id:
        raise Rejected(400, 50039, "order_id and client_order_id are both empty")
    order = store.orders.get(str(order_id)) if order_id else next(
        (o for o in store.orders.values() if o.client_order_id == client_id), None)
    if order is None or order.symbol != symbol:
        raise Rejected(400, protocol.V4_ORDER_NOT_FOUND, "Order Id not found")
    try:
        store.cancel(order.order_id)
    except OrderError:
        return v4_response(venue, {"result": False})
    return v4_response(venue, {"result": True})
