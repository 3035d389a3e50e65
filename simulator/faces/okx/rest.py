"""OKX's REST endpoints ([OKX] API v5; docs/okx.md): the pending orders (the seed, paged
by ordId cursors, newest first), the order detail, place, amend and cancel (signed), the
server's time and the spot instruments (public). Answers are OKX's envelope; a refused
order call answers HTTP 200 with `code` "1" and the reason in its row's `sCode`/`sMsg`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from simulator.faces.okx.auth import Refused, check_rest
from simulator.faces.okx.venue import VENUE_KEY, Venue, answer
from simulator.faces.okx.wire import STATE, amount, row
from simulator.state import AccountState
from simulator.store import OrderError, SimOrder
from tracker.venues.okx import protocol

# Codes of the order calls that `protocol` does not name ([OKX] #error-code-rest-api-trade):
# a parameter missing or wrong, a JSON body that is not one, a refused order call.
PARAM_EMPTY, JSON_ERROR, PARAM_ERROR = "50014", "50002", "51000"
OPERATION_FAILED = "1"  # the envelope's code when the one order of a call failed
PARTLY_FAILED = "2"  # a batch's, when some of its orders failed and some did not
# Place several orders in one call: how ccxt's create_order places even one
# ([OKX] #order-book-trading-trade-post-place-multiple-orders), at most 20 a call.
BATCH_ORDERS = "/api/v5/trade/batch-orders"
BATCH_MAX = 20
# The currencies: what ccxt's load_markets asks first when it holds a key
# ([OKX] #funding-account-rest-api-get-currencies).
CURRENCIES = "/api/v5/asset/currencies"
DUPLICATE_CLIENT_ID = "51016"  # "Duplicated clOrdId"
AMEND_FAILED = "51503"  # "Order modification failed as the order has been filled, ..."
CANCEL_FAILED = "51400"  # "Order cancellation failed as the order has been filled, ..."
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "EVENTS")

Params = dict[str, Any]
Handler = Callable[[Venue, AccountState | None, Params], web.Response]


class Failed(Exception):
    """An order call OKX refuses in its row: the row's `sCode` and `sMsg`."""

    def __init__(self, code: str, message: str, ids: Params) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ids = ids


def routes() -> list[web.RouteDef]:
    return [
        web.get(protocol.ORDERS_PENDING, endpoint(orders_pending)),
        web.get(protocol.ORDER, endpoint(order_detail)),
        web.post(protocol.ORDER, endpoint(place_order)),
        web.post(BATCH_ORDERS, endpoint(batch_orders, batch=True)),
        web.post(protocol.AMEND_ORDER, endpoint(amend_order)),
        web.post(protocol.CANCEL_ORDER, endpoint(cancel_order)),
        web.get(CURRENCIES, endpoint(currencies)),
        web.get(protocol.TIME, endpoint(server_time, signed=False)),
        web.get(protocol.INSTRUMENTS, endpoint(instruments, signed=False)),
    ]


def endpoint(handler: Handler, signed: bool = True, batch: bool = False
             ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The headers, passphrase, timestamp and signature of a signed call (over the path
    and query as sent and the body as sent), then the handler with the query's
    parameters (GET) or the JSON body's (POST: an object, or a batch's list of them,
    handed over as `{"batch": [...]}`)."""

    async def wrapped(request: web.Request) -> web.Response:
        venue = request.app[VENUE_KEY]
        # As sent: a body that is not UTF-8 fails its signature, not the server.
        body = (await request.read()).decode("utf-8", "replace") if request.can_read_body \
            else ""
        try:
            account = check_rest(venue, request.headers, request.method, request.raw_path,
                                 body) if signed else None
            if request.method == "GET":
                params: Params = dict(request.query)
            else:
                try:
                    params = json.loads(body)
                except json.JSONDecodeError:
                    raise Refused(400, JSON_ERROR, "JSON syntax error") from None
                if batch and isinstance(params, list) and all(
                        isinstance(p, dict) for p in params):
                    params = {"batch": params}
                elif batch or not isinstance(params, dict):
                    raise Refused(400, JSON_ERROR, "JSON syntax error")
            return handler(venue, account, params)
        except Refused as refused:
            venue.sim.stats[f"okx_rest_{refused.code}"] += 1
            return answer([], refused.code, refused.message, refused.status)
        except Failed as failed:
            return answer([{**failed.ids, "ts": str(venue.sim.now_ms()),
                            "sCode": failed.code, "sMsg": failed.message}],
                          OPERATION_FAILED, "All operations failed")

    return wrapped


# -- parameters ---------------------------------------------------------------------------


def required(params: Params, name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise Refused(400, PARAM_EMPTY, f"Parameter {name} can not be empty.")
    if not isinstance(value, str):
        raise Refused(400, PARAM_ERROR, f"Parameter {name} error")
    return value


def known(status: int, code: str) -> Refused:
    """A refusal with the message OKX writes beside that code."""
    return Refused(status, code, protocol.MESSAGES[code])


def limited() -> Refused:
    return known(protocol.HTTP_TOO_MANY, protocol.RATE_LIMITED)


def bad(name: str) -> Refused:
    return Refused(400, PARAM_ERROR, f"Parameter {name} error")


def store_symbol(venue: Venue, account: AccountState, inst_id: str) -> str:
    """The core's name of an instrument the account trades (51001 for any other)."""
    name = venue.store_names.get(inst_id)
    if name is None or name not in account.store.symbols:
        raise known(200, protocol.INSTRUMENT_UNKNOWN)
    return name


def cursor(params: Params, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not (isinstance(value, str) and protocol.ORDER_ID.fullmatch(value)):
        raise bad(name)
    return int(value)


def positive(params: Params, name: str) -> Decimal:
    """A positive decimal given as a string, as OKX takes amounts."""
    text = required(params, name)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise bad(name) from None
    if not value.is_finite() or value <= 0:
        raise bad(name)
    return value


def find(account: AccountState, symbol: str, params: Params) -> SimOrder | None:
    """The order a call names by ordId (which wins), else by clOrdId (the latest with it),
    in that instrument; 51003 when it names neither."""
    ord_id, client = params.get("ordId"), params.get("clOrdId")
    if not ord_id and not client:
        raise known(200, protocol.ID_REQUIRED)
    if ord_id:
        if not (isinstance(ord_id, str) and protocol.ORDER_ID.fullmatch(ord_id)):
            raise bad("ordId")
        order = account.store.orders.get(ord_id)
    else:
        order = next((o for o in reversed(account.store.orders.values())
                      if o.symbol == symbol and o.client_order_id == client), None)
    return order if order is not None and order.symbol == symbol else None


def _ids(params: Params) -> Params:
    return {"clOrdId": str(params.get("clOrdId") or ""), "ordId": str(params.get("ordId") or ""),
            "tag": ""}


# -- reads --------------------------------------------------------------------------------


def orders_pending(venue: Venue, account: AccountState | None, params: Params
                   ) -> web.Response:
    """Newest first; `after` the orders older than that ordId, `before` those newer (the
    `limit` nearest it, still newest first), both exclusive. After each page the
    `page_shift` fault closes the oldest open orders and opens as many: a client that
    pages backwards misses the new ones (newer than its cursor) and finds closed ones gone,
    as on OKX, and only the stream tells it of them."""
    assert account is not None
    sim = venue.sim
    if not venue.pending_reads.admit(account.name, sim.now_ms()):
        raise limited()
    inst_type = params.get("instType") or protocol.SPOT
    if inst_type not in INST_TYPES:
        raise bad("instType")
    symbol = store_symbol(venue, account, params["instId"]) if params.get("instId") else None
    after, before = cursor(params, "after"), cursor(params, "before")
    limit_text = params.get("limit") or str(protocol.PAGE_MAX)
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= protocol.PAGE_MAX:
        raise bad("limit")
    limit = int(limit_text)
    states = params.get("state")
    if states not in (None, "", *protocol.OPEN_STATES):
        raise bad("state")
    kinds = set(filter(None, (params.get("ordType") or "").split(",")))
    if kinds - set(protocol.ORDER_TYPES):
        raise bad("ordType")
    orders = [] if inst_type != protocol.SPOT else account.store.open_orders(symbol)
    rows = [o for o in sorted(orders, key=lambda o: int(o.order_id), reverse=True)
            if (after is None or int(o.order_id) < after)
            and (before is None or int(o.order_id) > before)
            and (not kinds or o.type in kinds) and (not states or STATE[o.state] == states)]
    page = rows[-limit:] if before is not None and after is None else rows[:limit]
    response = answer([row(o) for o in page])
    sim.shift_between_pages(account, symbol)
    return response


def order_detail(venue: Venue, account: AccountState | None, params: Params) -> web.Response:
    """The order, unless it is unknown, hidden by `rest_lag_ms`, or an unfilled cancel
    older than `okx_cancel_retention_s` (OKX keeps those 2 hours): 51603 for each."""
    assert account is not None
    sim = venue.sim
    inst_id = required(params, "instId")
    if not venue.detail_reads.admit((account.name, inst_id), sim.now_ms()):
        raise limited()
    order = find(account, store_symbol(venue, account, inst_id), params)
    retention_ms = sim.settings.okx_cancel_retention_s * 1000
    if order is None or sim.lagging(order) or (
            order.state == "canceled" and sim.now_ms() - order.update_time > retention_ms):
        raise known(200, protocol.ORDER_NOT_FOUND)
    return answer([row(order)])


def server_time(venue: Venue, account: AccountState | None, params: Params) -> web.Response:
    return answer([{"ts": str(venue.sim.now_ms())}])


def instruments(venue: Venue, account: AccountState | None, params: Params) -> web.Response:
    """Every spot instrument any account trades (or the one asked for)."""
    inst_type = required(params, "instType")
    if inst_type not in INST_TYPES:
        raise bad("instType")
    names = sorted(venue.store_names) if inst_type == protocol.SPOT else []
    if params.get("instId"):
        names = [n for n in names if n == params["instId"]]
    data = []
    for name in names:
        spec = venue.sim.symbols[venue.store_names[name]]
        base, quote = spec.name.split("_", 1)
        tick, lot = Decimal(1).scaleb(-spec.price_scale), Decimal(1).scaleb(-spec.size_scale)
        data.append({
            "instType": protocol.SPOT, "instId": name, "instIdCode": _code(name),
            "uly": "", "instFamily": "", "baseCcy": base, "quoteCcy": quote,
            "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "", "optType": "",
            "stk": "", "listTime": "1606468572000", "expTime": "", "lever": "",
            "tickSz": amount(tick), "lotSz": amount(lot), "minSz": amount(lot),
            "ctType": "", "alias": "", "state": "live", "ruleType": "normal",
            "maxLmtSz": "1000000000", "maxMktSz": "1000000", "maxLmtAmt": "20000000",
            "maxMktAmt": "1000000", "maxTwapSz": "", "maxIcebergSz": "", "maxTriggerSz": "",
            "maxStopSz": "", "tradeQuoteCcyList": [quote]})
    return answer(data)


def currencies(venue: Venue, account: AccountState | None, params: Params) -> web.Response:
    """Every currency of the instruments served, each on one chain of its own name."""
    names = sorted({c for spec in venue.sim.symbols.values() for c in spec.name.split("_")})
    if params.get("ccy"):
        names = [n for n in names if n in params["ccy"].split(",")]
    return answer([{"ccy": c, "name": c, "chain": f"{c}-{c}", "mainNet": True,
                    "canDep": True, "canWd": True, "canInternal": True, "minDep": "0",
                    "minWd": "0", "maxWd": "1000000", "wdTickSz": "8", "fee": "0",
                    "minFee": "0", "maxFee": "0", "logoLink": ""} for c in names])


def _code(name: str) -> int:
    """A stable integer `instIdCode` per instrument (OKX's own differ per environment)."""
    return int.from_bytes(name.encode()[:6].ljust(6, b"\0"), "big") % 10_000_000


# -- orders -------------------------------------------------------------------------------


def _done(venue: Venue, order: SimOrder, message: str, **extra: str) -> Params:
    """An order call's row for an order it placed, amended or canceled."""
    return {"clOrdId": order.client_order_id or "", "ordId": order.order_id, "tag": "",
            **extra, "ts": str(venue.sim.now_ms()), "sCode": protocol.SUCCESS,
            "sMsg": message}


def _placed(venue: Venue, order: SimOrder, message: str, **extra: str) -> web.Response:
    """An order call's answer: its one row, and the gateway's in and out times (µs)."""
    return _rows([_done(venue, order, message, **extra)], protocol.SUCCESS)


def _rows(rows: list[Params], code: str, msg: str = "") -> web.Response:
    now_us = str(time.time_ns() // 1000)
    return answer(rows, code, msg, extra={"inTime": now_us, "outTime": now_us})


def place_order(venue: Venue, account: AccountState | None, params: Params) -> web.Response:
    assert account is not None
    return _rows([_place(venue, account, params)], protocol.SUCCESS)


def batch_orders(venue: Venue, account: AccountState | None, params: Params) -> web.Response:
    """Each order placed in turn; each row says how its order fared. The envelope's code
    is "0" when all were placed, "1" when none was, "2" when some were."""
    assert account is not None
    orders = params["batch"]
    if not 1 <= len(orders) <= BATCH_MAX:
        raise bad("batch")
    rows = []
    for one in orders:
        try:
            rows.append(_place(venue, account, one))
        except Failed as failed:
            rows.append({**failed.ids, "ts": str(venue.sim.now_ms()), "sCode": failed.code,
                         "sMsg": failed.message})
        except Refused as refused:
            rows.append({**_ids(one), "ts": str(venue.sim.now_ms()), "sCode": refused.code,
                         "sMsg": refused.message})
    failures = sum(r["sCode"] != protocol.SUCCESS for r in rows)
    if not failures:
        return _rows(rows, protocol.SUCCESS)
    if failures == len(rows):
        return _rows(rows, OPERATION_FAILED, "All operations failed")
    return _rows(rows, PARTLY_FAILED, "Bulk operation partially succeeded.")


def _place(venue: Venue, account: AccountState, params: Params) -> Params:
    """A limit order (`px`, `sz` in base units) or a market order (a buy's `sz` in the
    quote currency, a sell's in base units: OKX's default `tgtCcy`); cash mode only."""
    ids = _ids(params)
    symbol = store_symbol(venue, account, required(params, "instId"))
    if required(params, "tdMode") != "cash":
        raise Failed(PARAM_ERROR, "Parameter tdMode error", ids)
    side, kind = required(params, "side"), required(params, "ordType")
    if side not in protocol.SIDES:
        raise Failed(PARAM_ERROR, "Parameter side error", ids)
    if kind not in ("limit", "market"):
        raise Failed(PARAM_ERROR, "The simulator takes limit and market orders.", ids)
    client = params.get("clOrdId") or None
    if client is not None and not (isinstance(client, str)
                                   and protocol.CLIENT_ORDER_ID.fullmatch(client)):
        raise Failed(PARAM_ERROR, "Parameter clOrdId error", ids)
    if client is not None and any(o.client_order_id == client
                                  for o in account.store.open_orders()):
        raise Failed(DUPLICATE_CLIENT_ID, "Duplicated clOrdId", ids)
    target = params.get("tgtCcy") or ("quote_ccy" if kind == "market" and side == "buy"
                                      else "base_ccy")
    try:
        size = positive(params, "sz")
        if kind == "limit":
            order = account.store.place_limit(symbol, side, positive(params, "px"), size,
                                              client)
        elif target != ("quote_ccy" if side == "buy" else "base_ccy"):
            raise Failed(PARAM_ERROR, "Parameter tgtCcy error", ids)
        elif side == "buy":
            order = account.store.place_market(symbol, "buy", notional=size,
                                               client_order_id=client)
        else:
            order = account.store.place_market(symbol, "sell", size=size,
                                               client_order_id=client)
    except Refused as refused:
        raise Failed(refused.code, refused.message, ids) from None
    except OrderError as exc:
        raise Failed(PARAM_ERROR, str(exc), ids) from None
    return _done(venue, order, "Order placed")


def amend_order(venue: Venue, account: AccountState | None, params: Params) -> web.Response:
    """`newSz` and/or `newPx` of an open limit order, its ordId kept; the push that
    follows carries the call's `reqId` and `amendResult` "0". A refused amend answers
    here and pushes nothing."""
    assert account is not None
    ids = _ids(params)
    symbol = store_symbol(venue, account, required(params, "instId"))
    order = find(account, symbol, params)
    req_id = params.get("reqId") or ""
    if not isinstance(req_id, str) or (req_id and not protocol.CLIENT_ORDER_ID.fullmatch(
            req_id)):
        raise Failed(PARAM_ERROR, "Parameter reqId error", ids)
    if order is None or not order.is_open:
        raise Failed(AMEND_FAILED, "Order modification failed as the order has been filled, "
                                   "canceled or does not exist.", ids)
    try:
        new_size = positive(params, "newSz") if params.get("newSz") else None
        new_price = positive(params, "newPx") if params.get("newPx") else None
    except Refused as refused:
        raise Failed(refused.code, refused.message, ids) from None
    if new_size is None and new_price is None:
        raise Failed(PARAM_ERROR, "Either parameter newSz or newPx is required.", ids)
    venue.req_ids[order.order_id] = req_id  # the push, spelled as it is emitted
    try:
        account.store.modify(order.order_id, new_size, new_price)
    except OrderError as exc:
        raise Failed(PARAM_ERROR, str(exc), ids) from None
    finally:
        venue.req_ids.pop(order.order_id, None)
    return _placed(venue, order, "", reqId=req_id)


def cancel_order(venue: Venue, account: AccountState | None, params: Params) -> web.Response:
    assert account is not None
    ids = _ids(params)
    symbol = store_symbol(venue, account, required(params, "instId"))
    order = find(account, symbol, params)
    if order is None or not order.is_open:
        raise Failed(CANCEL_FAILED, "Order cancellation failed as the order has been filled, "
                                    "canceled or does not exist.", ids)
    account.store.cancel(order.order_id)
    return _placed(venue, order, "")
