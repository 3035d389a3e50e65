"""The control API under /control: drive exact scenarios, switch faults, read the truth.

It is the simulator's own interface (not BitMart's), unauthenticated, for tests, the demo
and benchmarks; the simulator binds to loopback by default for that reason.

Calls about orders, their flow and their statistics are about one account, named by
`?account=NAME` or an `"account"` field of the body; without either, the default (first)
account, so a caller that knows of one account only is served as it always was. Faults
are the venue's, so global; connection and token actions reach every account unless one
is named.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from aiohttp import web

from simulator import burst
from simulator.faults import FaultConfigError
from simulator.flow import FlowConfigError, parse_mix
from simulator.state import SIM_KEY, AccountState, Connection, Simulator, UnknownAccount
from simulator.store import CLIENT_ID, OrderError, SimOrder
from simulator.truth import truth_row

# RFC 6455 §7.4: 1004-1006 and 1015 are reserved and never sent on the wire.
SENDABLE_CLOSE_CODES = frozenset([*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)])

Handler = Callable[[Simulator, dict[str, Any], web.Request], Awaitable[Any]]


class BadControl(Exception):
    pass


def routes() -> list[web.RouteDef]:
    return [
        web.get("/control/truth", endpoint(truth)),
        web.get("/control/faults", endpoint(get_faults)),
        web.patch("/control/faults", endpoint(set_faults)),
        web.post("/control/orders", endpoint(place)),
        web.post("/control/orders/{order_id}/fill", endpoint(fill)),
        web.post("/control/orders/{order_id}/cancel", endpoint(cancel)),
        web.post("/control/populate", endpoint(populate)),
        web.get("/control/flow", endpoint(get_flow)),
        web.patch("/control/flow", endpoint(set_flow)),
        web.post("/control/ws/drop", endpoint(drop)),
        web.post("/control/ws/send", endpoint(send_raw)),
        web.post("/control/tokens/expire", endpoint(expire_tokens)),
        web.post("/control/load/burst", endpoint(start_burst)),
        web.post("/control/load/pace", endpoint(start_pace)),
        web.get("/control/load", endpoint(get_load)),
        web.get("/control/stats", endpoint(stats)),
        web.get("/control/accounts", endpoint(accounts)),
    ]


def endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def wrapped(request: web.Request) -> web.Response:
        sim = request.app[SIM_KEY]
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = json.loads(await request.text() or "{}")
            except json.JSONDecodeError as exc:
                return web.json_response({"error": f"body is not JSON: {exc}"}, status=400)
            if not isinstance(body, dict):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
        try:
            return web.json_response(await handler(sim, body, request))
        except (BadControl, FaultConfigError, FlowConfigError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except OrderError as exc:
            status = 404 if exc.kind == "not_found" else 409
            return web.json_response({"error": str(exc)}, status=status)
        except UnknownAccount as exc:
            return web.json_response({"error": str(exc)}, status=404)

    return wrapped


def named(body: dict[str, Any], request: web.Request) -> str | None:
    """The account a call names (`?account=` or the body's `account`), or None."""
    query, field = request.query.get("account"), body.get("account")
    if field is not None and not isinstance(field, str):
        raise BadControl("account must be a string")
    if query is not None and field is not None and query != field:
        raise BadControl("the query and the body name different accounts")
    return query if query is not None else field


def account_of(sim: Simulator, body: dict[str, Any], request: web.Request) -> AccountState:
    """The account a call is about: the one it names, else the default account."""
    return sim.account(named(body, request))


def only_account(sim: Simulator, body: dict[str, Any],
                 request: web.Request) -> AccountState | None:
    """For the actions that reach every account unless one is named."""
    name = named(body, request)
    return None if name is None else sim.account(name)


def row_of(sim: Simulator, account: AccountState, order: SimOrder) -> dict[str, Any]:
    return truth_row(order, account.store.symbols[order.symbol], sim.settings.amounts)


async def truth(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """Every order's true current state; `?open=1` for the open set, `?symbol=` to filter."""
    account = account_of(sim, body, request)
    symbol = request.query.get("symbol")
    if request.query.get("open") in ("1", "true"):
        orders = account.store.open_orders(symbol)
    else:
        orders = [o for o in account.store.orders.values() if symbol in (None, o.symbol)]
    return {"server_time": sim.now_ms(), "account": account.name,
            "orders": [row_of(sim, account, o) for o in orders]}


async def get_faults(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    return {"faults": sim.faults.as_dict(), "injected": dict(sim.injected)}


async def set_faults(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    sim.faults.update(body)
    return {"faults": sim.faults.as_dict()}


def _amount(body: dict[str, Any], name: str) -> Decimal | None:
    if body.get(name) is None:
        return None
    try:
        value = Decimal(str(body[name]))
    except InvalidOperation:
        raise BadControl(f"{name} is not a decimal: {body[name]!r}") from None
    if not value.is_finite():
        raise BadControl(f"{name} must be finite")
    return value


async def place(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    account = account_of(sim, body, request)
    symbol, side = str(body.get("symbol", "")), str(body.get("side", ""))
    client_id = body.get("client_order_id")
    if client_id is not None and not (isinstance(client_id, str)
                                      and CLIENT_ID.fullmatch(client_id)):
        raise BadControl("client_order_id must be 1 to 32 letters and digits")
    if body.get("type", "limit") == "market":
        order = account.store.place_market(symbol, side, size=_amount(body, "size"),
                                           notional=_amount(body, "notional"),
                                           client_order_id=client_id)
    else:
        price, size = _amount(body, "price"), _amount(body, "size")
        if price is None or size is None:
            order = account.flow.random_limit(symbol or None)
        else:
            order = account.store.place_limit(symbol, side, price, size, client_id)
    return row_of(sim, account, order)


async def fill(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """Fill an order of the account named (another account's order is not found)."""
    account = account_of(sim, body, request)
    order = account.store.fill(request.match_info["order_id"], _amount(body, "size"))
    return row_of(sim, account, order)


async def cancel(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    account = account_of(sim, body, request)
    order = account.store.cancel(request.match_info["order_id"],
                                 str(body.get("source", "user")))
    return row_of(sim, account, order)


async def populate(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    account = account_of(sim, body, request)
    per_symbol = body.get("per_symbol")
    if not isinstance(per_symbol, int) or isinstance(per_symbol, bool) or per_symbol < 0:
        raise BadControl("per_symbol must be a non-negative integer")
    symbol = body.get("symbol")
    if symbol is not None and symbol not in account.store.symbols:
        raise BadControl(f"unknown symbol {symbol!r}")
    for _ in range(per_symbol):
        for name in [symbol] if symbol else list(account.store.symbols):
            account.flow.random_limit(name)
    return {"open": len(account.store.open_orders())}


async def get_flow(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    account = account_of(sim, body, request)
    return {"account": account.name, "rate": account.flow_rate, "mix": account.flow.mix,
            "events": account.flow.events}


async def set_flow(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """`{"rate": events per second, "mix": "new=4,cancel=1"}`, either or both."""
    account = account_of(sim, body, request)
    rate = body.get("rate")
    if "rate" in body and (isinstance(rate, bool) or not isinstance(rate, int | float)
                           or not 0 <= rate < float("inf")):
        raise BadControl("rate must be a finite non-negative number")
    mix = parse_mix(str(body["mix"])) if "mix" in body else account.flow.mix
    if rate is not None:
        account.flow_rate = float(rate)
    account.flow.mix = mix
    return await get_flow(sim, body, request)


async def drop(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """`{"mode": "abort"}` drops every connection with no close frame; `{"mode": "close",
    "code": 1011}` closes them with that code."""
    mode = body.get("mode", "abort")
    code = body.get("code", 1000)
    if mode not in ("abort", "close"):
        raise BadControl("mode is abort or close")
    if not isinstance(code, int) or code not in SENDABLE_CLOSE_CODES:
        raise BadControl("code must be a close code a server may send (1000-1003, "
                         "1007-1014, 3000-4999)")
    return {"dropped": await sim.drop_connections(mode, code, str(body.get("reason", "")),
                                                  only_account(sim, body, request))}


async def send_raw(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """`{"text": "..."}` sends a text frame, `{"base64": "..."}` a binary one, as given."""
    if isinstance(body.get("text"), str):
        frame: str | bytes = body["text"]
    elif isinstance(body.get("base64"), str):
        try:
            frame = base64.b64decode(body["base64"], validate=True)
        except binascii.Error as exc:
            raise BadControl(f"base64 is not valid: {exc}") from None
    else:
        raise BadControl("give text (a string) or base64 (a string)")
    return {"sent": sim.send_raw(frame, only_account(sim, body, request))}


def seconds(body: dict[str, Any], name: str, default: float) -> float:
    """A delay the body may give (`default` where it does not), in [0, 3600] seconds: the
    faces' announcements of a connection's end."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3600:
        raise BadControl(f"{name} must be a number of seconds in [0, 3600]")
    return float(value)


class Revocable(Protocol):
    """A face's session, which ends what an account holds on it when its key goes."""

    def revoke(self, account: AccountState) -> None: ...


def revoke_key(sim: Simulator, body: dict[str, Any], request: web.Request,
               revoked: set[str], sessions: Iterable[Revocable], counter: str) -> Any:
    """`{"account"?, "revoked"?: true}` on a face that keeps `revoked`, the names of the
    accounts whose key is gone: the account's key stops working and every session of the
    face ends what the account holds there (`counter`, of the faults injected, counts it);
    `false` restores the key. A face's own call says what its venue answers then."""
    account = account_of(sim, body, request)
    flag = body.get("revoked", True)
    if not isinstance(flag, bool):
        raise BadControl("revoked must be true or false")
    if not flag:
        revoked.discard(account.name)
        return {"account": account.name, "revoked": False}
    revoked.add(account.name)
    for session in list(sessions):
        session.revoke(account)
    sim.injected[counter] += 1
    return {"account": account.name, "revoked": True}


def _positive(body: dict[str, Any], name: str, default: float, limit: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= limit:
        raise BadControl(f"{name} must be a number in (0, {limit:g}]")
    return value


def _load_symbol(sim: Simulator) -> str:
    """The symbol a new load uses (the first); refused while another load runs."""
    if sim.load.task is not None and not sim.load.task.done():
        raise BadControl("a burst or pace is running")
    return next(iter(sim.store.symbols))


async def start_burst(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """`{"orders": N, "pushes": M, "start_ms"?: T}`: M pushes over N orders, made first,
    then written to every subscribed connection as fast as it takes them. The same
    arguments make the same pushes (burst.burst_pushes), which each face spells the same
    way every time, for comparisons."""
    symbol = _load_symbol(sim)
    orders = int(_positive(body, "orders", 20_000, 1_000_000))
    pushes = int(_positive(body, "pushes", 200_000, 10_000_000))
    start_ms = body.get("start_ms", sim.now_ms())
    if isinstance(start_ms, bool) or not isinstance(start_ms, int) or start_ms <= 0:
        raise BadControl("start_ms must be a positive integer (ms)")

    faces = {c.face: sim.faces[c.face] for c in sim.subscribed()}

    def make() -> tuple[int, dict[str, list[str | bytes]]]:
        """How many pushes, and each face's frames of them, spelled once for all its
        connections."""
        planned = burst.burst_pushes(orders, pushes, symbol, start_ms)
        return len(planned), {name: [face.load_frame(push) for push in planned]
                              for name, face in faces.items()}

    count, frames = await asyncio.to_thread(make)  # the event loop keeps answering pings
    sim.load = burst.Load(kind="burst", frames=count)
    targets = [(c.ws, frames[c.face]) for c in sim.subscribed() if c.face in frames]
    sim.load.task = asyncio.create_task(burst.send_burst(targets, sim.load))
    last = burst.BASE_ID + orders - 1
    return sim.load.describe(False) | {"last_order_id": str(last), "symbol": symbol,
                                       "orders": orders}


async def start_pace(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """`{"rate": R, "seconds": S}`: a new order's push every 1/R s, each send time kept."""
    symbol = _load_symbol(sim)
    rate = _positive(body, "rate", 2000, 100_000)
    seconds = _positive(body, "seconds", 30, 3600)
    first = burst.BASE_ID + 5_000_000 + sim.load.sent + sim.load.frames
    sim.load = burst.Load(kind="pace", frames=int(rate * seconds))
    sockets: dict[str, list[web.WebSocketResponse]] = {}
    for connection in sim.subscribed():
        sockets.setdefault(connection.face, []).append(connection.ws)
    targets = [(sim.faces[name].load_frame, ws) for name, ws in sockets.items()]
    sim.load.task = asyncio.create_task(burst.send_pace(
        targets, sim.load, rate, seconds, symbol, first))
    return sim.load.describe(False) | {"symbol": symbol}


async def get_load(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """The current load; `?times=1` adds each paced order's send time."""
    return sim.load.describe(request.query.get("times") == "1")


async def expire_tokens(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """Early token expiry: every session token (BitMart's v2 bearer tokens) issued so far
    (to one account, if named) stops working now."""
    only = only_account(sim, body, request)
    count = 0
    for account in [only] if only else sim.accounts.values():
        count += len(account.tokens)
        account.tokens.clear()
    sim.injected["token_expiry"] += count
    return {"expired": count}


async def stats(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """One account's orders and flow; the connections logged in with it when it is named,
    else every connection; the counters and injected faults are the whole simulator's."""
    account = account_of(sim, body, request)
    return {
        "server_time": sim.now_ms(),
        "account": account.name,
        "orders": len(account.store.orders),
        "open_orders": len(account.store.open_orders()),
        "changes": account.store.changes,
        "flow_events": account.flow.events,
        "counters": dict(sim.stats),
        "injected": dict(sim.injected),
        "connections": [_describe(c) for c in sim.connections(
            only_account(sim, body, request))],
    }


async def accounts(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """The accounts served, the default first; their names and markets, no credentials."""
    return {"accounts": [{
        "name": a.name, "symbols": list(a.store.symbols), "orders": len(a.store.orders),
        "open_orders": len(a.store.open_orders()), "rate": a.flow_rate,
        "connections": len(sim.connections(a)),
    } for a in sim.accounts.values()]}


def _describe(connection: Connection) -> dict[str, Any]:
    return {"peer": connection.peer, "logged_in": connection.logged_in,
            "account": connection.account.name if connection.account else None,
            "topics": list(connection.topics)}
