"""The legacy v2 REST face (protocol §1): bearer tokens, page-index lists, `{"message"}` errors.

Where the v2 documents are silent (token error bodies, the status of a stale timestamp,
limits past 1000) the choice made here is the strict one, and docs/protocol-notes.md lists each.
"""

from __future__ import annotations

import json
import math
import secrets
from decimal import Decimal, InvalidOperation

from aiohttp import web

from simulator.faces.bitmart.replies import v2_error
from simulator.faces.bitmart.venue import VENUE_KEY
from simulator.faces.bitmart.wire import v2_row
from simulator.state import SIM_KEY, AccountState
from simulator.store import OrderError
from tracker.venues.bitmart import protocol, signing

TOKEN_LIFETIME_S = 900
TOKENS_PER_MINUTE = 5
TIMESTAMP_WINDOW_MS = 60_000
# status query value -> the states it lists (protocol §1.5)
STATUS_FILTER = {
    0: None,
    1: {"new"},
    2: {"partially_filled"},
    3: {"filled"},
    4: {"canceled", "partially_canceled", "failed"},
    protocol.V2_LIST_OPEN: set(protocol.OPEN_STATES),
}


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v2/authentication", authenticate),
        web.get("/v2/time", server_time),
        web.get("/v2/ping", ping),
        web.get("/v2/orders", list_orders),
        web.get("/v2/orders/{entrust_id}", order_detail),
        web.post("/v2/orders", place_order),
        web.delete("/v2/orders/{entrust_id}", cancel_order),
    ]


async def server_time(request: web.Request) -> web.Response:
    return web.json_response({"server_time": request.app[SIM_KEY].now_ms()})


async def ping(request: web.Request) -> web.Response:
    return web.json_response({})


async def authenticate(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        return v2_error(400, "Invalid grant_type")
    account = sim.by_key.get(str(form.get("client_id", "")))
    if account is None:
        return v2_error(401, "Invalid client_id")
    key = account.credentials
    expected = signing.v2_client_secret(key.api_key, key.secret, key.memo)
    if not signing.constant_time_equal(str(form.get("client_secret", "")), expected):
        return v2_error(401, "Invalid client_secret")
    now = sim.now_ms()
    requests = request.app[VENUE_KEY].limits[account.name].token_requests  # per account
    while requests and requests[0] <= now - 60_000:
        requests.popleft()
    if len(requests) >= TOKENS_PER_MINUTE:
        sim.stats["v2_token_refused"] += 1
        return v2_error(429, "Too many token requests: at most 5 per minute")
    requests.append(now)
    token = secrets.token_hex(24)
    account.tokens[token] = now + int(sim.faults.token_ttl_s * 1000)
    sim.stats["v2_tokens_issued"] += 1
    return web.json_response({"access_token": token, "expires_in": TOKEN_LIFETIME_S})


def _authorize(request: web.Request) -> AccountState | web.Response:
    """Bearer token and timestamp checks shared by every private v2 call: the account the
    token was issued to, or the refusal. Timestamp refusals name the header: that is how a
    client tells a clock problem from others."""
    sim = request.app[SIM_KEY]
    now = sim.now_ms()
    auth = request.headers.get(protocol.AUTHORIZATION_HEADER, "")
    scheme, _, token = auth.partition(" ")
    if scheme != "Bearer" or not token:
        return v2_error(401, f"Missing {protocol.AUTHORIZATION_HEADER}: Bearer <access_token>")
    account = sim.token_account(token)
    if account is None:
        return v2_error(401, "Invalid access token")
    if account.tokens[token] <= now:
        del account.tokens[token]
        return v2_error(401, "Access token expired")
    stamp = request.headers.get(protocol.TIMESTAMP_HEADER, "")
    if not stamp.isdigit():
        return v2_error(400, f"Missing or invalid {protocol.TIMESTAMP_HEADER}")
    if abs(now - int(stamp)) > TIMESTAMP_WINDOW_MS:
        return v2_error(400, f"Request expired: {protocol.TIMESTAMP_HEADER} must be within "
                             "60 s of server time")
    verdict = request.app[VENUE_KEY].limits[account.name].v2.hit(token, now)
    if not verdict.allowed:
        return v2_error(429, "Too many requests")
    return account


def _check_signature(request: web.Request, account: AccountState,
                     params: dict[str, object]) -> web.Response | None:
    given = request.headers.get(protocol.SIGNATURE_HEADER, "")
    expected = signing.v2_signature(account.credentials.secret, params)
    if not given or not signing.constant_time_equal(given, expected):
        return v2_error(401, f"Invalid {protocol.SIGNATURE_HEADER}")
    return None


def _required_int(request: web.Request, name: str) -> int | web.Response:
    raw = request.query.get(name)
    if raw is None:
        return v2_error(400, f"Required Integer parameter '{name}' is not present")
    try:
        return int(raw)
    except ValueError:
        return v2_error(400, f"Invalid {name}: {raw!r} is not an integer")


async def list_orders(request: web.Request) -> web.Response:
    account = _authorize(request)
    if isinstance(account, web.Response):
        return account
    sim, store = request.app[SIM_KEY], account.store
    symbol = request.query.get("symbol")
    if not symbol:
        return v2_error(400, "Required String parameter 'symbol' is not present")
    values = {}
    for name in ("status", "offset", "limit"):
        value = _required_int(request, name)
        if isinstance(value, web.Response):
            return value
        values[name] = value
    status, offset, limit = values["status"], values["offset"], values["limit"]
    if status == 6:
        return v2_error(400, "Invalid status. status=6 not support any more, please use "
                             "3:deal_success orders, 4:cancelled orders")
    if status not in STATUS_FILTER:
        return v2_error(400, f"Invalid status {status}")
    if offset < 0 or not 1 <= limit <= protocol.V2_PAGE_MAX:
        return v2_error(400, "Invalid paging: offset >= 0 and 1 <= limit <= "
                             f"{protocol.V2_PAGE_MAX}")
    if symbol not in store.symbols:
        return v2_error(400, f"Invalid symbol {symbol}")
    states = STATUS_FILTER[status]
    if states == {"new", "partially_filled"}:
        rows = store.open_orders(symbol)
    else:
        rows = [o for o in store.orders.values()
                if o.symbol == symbol and (states is None or o.state in states)]
    spec = store.symbols[symbol]
    page = rows[offset * limit:(offset + 1) * limit]
    body = {
        "orders": [v2_row(o, spec, sim.settings.amounts) for o in page],
        "total_pages": math.ceil(len(rows) / limit),
        "total_orders": len(rows),
        "current_page": offset,
    }
    response = web.json_response(body)
    sim.shift_between_pages(account, symbol)
    return response


async def order_detail(request: web.Request) -> web.Response:
    account = _authorize(request)
    if isinstance(account, web.Response):
        return account
    sim = request.app[SIM_KEY]
    # Another account's order is as unknown as one that never was.
    order = account.store.orders.get(request.match_info["entrust_id"])
    if order is None or sim.lagging(order):
        return v2_error(404, "Not found")
    return web.json_response(v2_row(order, account.store.symbols[order.symbol],
                                    sim.settings.amounts))


async def place_order(request: web.Request) -> web.Response:
    account = _authorize(request)
    if isinstance(account, web.Response):
        return account
    try:
        body = json.loads(await request.text())
    except json.JSONDecodeError:
        return v2_error(400, "Invalid request: body must be JSON")
    if not isinstance(body, dict) or not {"symbol", "amount", "price", "side"} <= body.keys():
        return v2_error(400, "Invalid request: symbol, amount, price and side are required")
    params = {k: body[k] for k in ("symbol", "amount", "price", "side")}
    if (denied := _check_signature(request, account, params)) is not None:
        return denied
    try:
        price, amount = Decimal(str(params["price"])), Decimal(str(params["amount"]))
        order = account.store.place_limit(str(params["symbol"]), str(params["side"]), price,
                                          amount)
    except (InvalidOperation, OrderError) as exc:
        return v2_error(400, f"Place order error: {exc}")
    return web.json_response({"entrust_id": int(order.order_id)})


async def cancel_order(request: web.Request) -> web.Response:
    account = _authorize(request)
    if isinstance(account, web.Response):
        return account
    entrust_id = request.match_info["entrust_id"]
    if (denied := _check_signature(request, account, {"entrust_id": entrust_id})) is not None:
        return denied
    try:
        account.store.cancel(entrust_id)
    except OrderError as exc:
        if exc.kind == "not_found":
            return v2_error(404, "Not found")
        return v2_error(400, f"Cancel order error: {exc}")
    return web.json_response({})
