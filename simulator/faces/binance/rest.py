"""Binance's REST endpoints ([BN] rest-api.md; docs/binance.md): open orders, the order
query, place, cancel, cancel-replace and amend (signed), the server's time and the
exchange information (public). Every answer carries the caller's used weight.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from simulator.faces.binance.auth import (
    Refused,
    check_signature,
    check_time,
    mandatory,
    rest_params,
    rest_payload,
    unknown_key,
)
from simulator.faces.binance.venue import VENUE_KEY, Venue, answer, error
from simulator.faces.binance.wire import amount, binance_symbol, client_id, row
from simulator.state import AccountState
from simulator.store import OrderError, SimOrder
from tracker.venues.binance import protocol

# The simulator's choice where docs/binance.md names no code: an amend to a size that is
# not below the order's, or not above what has filled, or of an order that is not open.
AMEND_REFUSED = -2038
CLIENT_ID = re.compile(protocol.CLIENT_ORDER_ID)
DECIMAL = re.compile(protocol.DECIMAL)

Params = dict[str, str]
Handler = Callable[[Venue, AccountState | None, Params], Any]


def routes() -> list[web.RouteDef]:
    return [
        web.get(protocol.OPEN_ORDERS, endpoint(open_orders, open_orders_weight)),
        web.get(protocol.ORDER, endpoint(query_order, fixed(protocol.ORDER_WEIGHT))),
        web.post(protocol.ORDER, endpoint(place_order, fixed(protocol.ORDER_ACTION_WEIGHT))),
        web.delete(protocol.ORDER, endpoint(cancel_order,
                                            fixed(protocol.ORDER_ACTION_WEIGHT))),
        web.post(protocol.CANCEL_REPLACE, endpoint(cancel_replace,
                                                   fixed(protocol.ORDER_ACTION_WEIGHT))),
        web.put(protocol.AMEND_KEEP_PRIORITY, endpoint(amend, fixed(protocol.AMEND_WEIGHT))),
        web.get(protocol.TIME, endpoint(server_time, fixed(protocol.TIME_WEIGHT), signed=False)),
        web.get(protocol.EXCHANGE_INFO, endpoint(exchange_info,
                                                 fixed(protocol.EXCHANGE_INFO_WEIGHT),
                                                 signed=False)),
    ]


def fixed(weight: int) -> Callable[[Params], int]:
    return lambda params: weight


def open_orders_weight(params: Params) -> int:
    return protocol.OPEN_ORDERS_WEIGHT_SYMBOL if params.get("symbol") \
        else protocol.OPEN_ORDERS_WEIGHT_ALL


def endpoint(handler: Handler, weight: Callable[[Params], int], signed: bool = True
             ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The weight first (a refused call never reaches the rest), then the key, the
    signature and the timestamp of a signed call, then the handler. (The used weight is
    written on every answer by the face's `on_response_prepare`.)"""

    async def wrapped(request: web.Request) -> web.Response:
        venue = request.app[VENUE_KEY]
        ip = request.remote or "?"
        raw_query = request.rel_url.raw_query_string
        # As sent: a body that is not UTF-8 fails its signature, not the server.
        raw_body = (await request.read()).decode("utf-8", "replace") \
            if request.can_read_body else ""
        params = rest_params(raw_query, raw_body)
        verdict = venue.charge(ip, weight(params))
        if verdict.status != 200:
            venue.sim.stats[f"binance_rest_{verdict.status}"] += 1
            code, message = verdict.refusal(venue.sim.settings.binance_weight_limit)
            return error(verdict.status, code, message,
                         {protocol.RETRY_AFTER: str(verdict.retry_after_s)})
        try:
            account = None
            if signed:
                account = venue.account_by_key(request.headers.get(protocol.API_KEY_HEADER, ""))
                if account is None:
                    raise unknown_key()
                message, signature = rest_payload(raw_query, raw_body)
                check_signature(account, message, signature)
                check_time(venue.sim.now_ms(), params)
            body = handler(venue, account, params)
        except Refused as refused:
            return error(refused.status, refused.code, refused.message)
        except Partial as partial:
            return answer(partial.body, partial.status)
        return answer(body)

    return wrapped


class Partial(Exception):
    """A cancel-replace that did not wholly succeed: its status and its body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("msg", ""))
        self.status = status
        self.body = body


# -- parameters ---------------------------------------------------------------------------


def store_symbol(venue: Venue, account: AccountState, name: str | None) -> str:
    if not name:
        raise mandatory("symbol")
    symbol = venue.store_symbol(name)
    if symbol is None or symbol not in account.store.symbols:
        raise Refused(400, protocol.BAD_SYMBOL, "Invalid symbol.")
    return symbol


def positive(params: Params, name: str) -> Decimal:
    """A DECIMAL parameter above zero, written as Binance takes it (`0.00001`, never
    `1e-05`: a client that writes floats with `str()` is refused, as by Binance)."""
    text = params.get(name)
    if not text:
        raise mandatory(name)
    if not DECIMAL.fullmatch(text):
        raise illegal(name, protocol.DECIMAL)
    value = Decimal(text)
    if value <= 0:
        raise mandatory(name)
    return value


def illegal(name: str, pattern: str) -> Refused:
    return Refused(400, protocol.ILLEGAL_CHARS,
                   f"Illegal characters found in parameter '{name}'; legal range is "
                   f"'^{pattern}$'.")


def client_order_id(params: Params, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not CLIENT_ID.fullmatch(value):
        raise illegal(name, protocol.CLIENT_ORDER_ID)
    return value


def find(account: AccountState, symbol: str, params: Params, id_name: str = "orderId",
         client_name: str = "origClientOrderId") -> SimOrder:
    """The order a call names by its orderId, else by its client id, in that symbol."""
    order_id, client = params.get(id_name), params.get(client_name)
    if not order_id and not client:
        raise Refused(400, protocol.MANDATORY_PARAM, f"Param '{client_name}' or '{id_name}' "
                                                     "must be sent, but both were empty/null!")
    order = None
    if order_id:
        if not (order_id.isascii() and order_id.isdigit()):
            raise mandatory(id_name)
        order = account.store.orders.get(str(int(order_id)))
    else:
        order = next((o for o in reversed(account.store.orders.values())
                      if o.symbol == symbol and client_id(o) == client), None)
    if order is None or order.symbol != symbol:
        raise Refused(400, protocol.NO_SUCH_ORDER, "Order does not exist.")
    return order


# -- reads --------------------------------------------------------------------------------


def open_orders(venue: Venue, account: AccountState | None, params: Params) -> Any:
    assert account is not None
    symbol = store_symbol(venue, account, params["symbol"]) if params.get("symbol") else None
    return [row(o) for o in venue.open_orders(account, symbol)]


def query_order(venue: Venue, account: AccountState | None, params: Params) -> Any:
    """The order as the REST side knows it: unknown while `rest_lag_ms` hides it, as it
    was with `rest_stale_ms`, archived (-2026) once canceled unfilled for longer than
    `binance_archive_s` (Binance's 90 days)."""
    assert account is not None
    sim = venue.sim
    order = find(account, store_symbol(venue, account, params.get("symbol")), params)
    if sim.lagging(order):
        raise Refused(400, protocol.NO_SUCH_ORDER, "Order does not exist.")
    stale = sim.faults.rest_stale_ms
    seen = venue.as_of(order, stale) if stale else order
    if seen is None:
        sim.injected["rest_stale"] += 1
        raise Refused(400, protocol.NO_SUCH_ORDER, "Order does not exist.")
    if seen.state == "canceled" and \
            sim.now_ms() - seen.update_time > sim.settings.binance_archive_s * 1000:
        raise Refused(400, protocol.ARCHIVED, "Order was canceled or expired with no "
                                              "executed qty over 90 days ago and has been "
                                              "archived.")
    return row(seen)


def server_time(venue: Venue, account: AccountState | None, params: Params) -> Any:
    return {"serverTime": venue.sim.now_ms()}


def exchange_info(venue: Venue, account: AccountState | None, params: Params) -> Any:
    """Every symbol any account trades (or those asked for), with its base and quote."""
    names = list(venue.store_names)
    if params.get("symbol"):
        names = [params["symbol"]]
    elif params.get("symbols"):
        try:
            names = json.loads(params["symbols"])
        except json.JSONDecodeError:
            raise mandatory("symbols") from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise mandatory("symbols")
    if any(n not in venue.store_names for n in names):
        raise Refused(400, protocol.BAD_SYMBOL, "Invalid symbol.")
    limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
               "limit": venue.sim.settings.binance_weight_limit}]
    limits += [{"rateLimitType": kind, "interval": interval, "intervalNum": n, "limit": limit}
               for kind, interval, n, limit in protocol.OTHER_RATE_LIMITS]
    symbols = []
    for name in names:
        spec = venue.sim.symbols[venue.store_names[name]]
        base, quote = spec.name.split("_", 1)
        symbols.append({
            "symbol": name, "status": "TRADING", "baseAsset": base,
            "baseAssetPrecision": 8, "quoteAsset": quote, "quotePrecision": 8,
            "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": False, "ocoAllowed": False, "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False, "cancelReplaceAllowed": True, "amendAllowed": True,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": amount(Decimal(1).scaleb(
                    -spec.price_scale)), "maxPrice": "1000000000.00000000",
                 "tickSize": amount(Decimal(1).scaleb(-spec.price_scale))},
                {"filterType": "LOT_SIZE", "minQty": amount(Decimal(1).scaleb(
                    -spec.size_scale)), "maxQty": "1000000000.00000000",
                 "stepSize": amount(Decimal(1).scaleb(-spec.size_scale))}],
            "permissions": [], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"]})
    return {"timezone": "UTC", "serverTime": venue.sim.now_ms(), "rateLimits": limits,
            "exchangeFilters": [], "symbols": symbols}


# -- orders -------------------------------------------------------------------------------


def new_order(venue: Venue, account: AccountState, params: Params,
              ) -> Callable[[], SimOrder]:
    """Check a new order's parameters; what places it (so cancel-replace can check its
    new order before it cancels)."""
    symbol = store_symbol(venue, account, params.get("symbol"))
    side, kind = params.get("side", ""), params.get("type", "")
    if side not in protocol.SIDES:
        raise mandatory("side")
    if kind not in ("LIMIT", "MARKET"):
        raise Refused(400, protocol.UNSUPPORTED_OPERATION,
                      "The simulator takes LIMIT and MARKET orders.")
    client = client_order_id(params, "newClientOrderId")
    if client is not None and any(client_id(o) == client for o in account.store.open_orders()):
        raise Refused(400, protocol.NEW_ORDER_REJECTED, "Duplicate order sent.")
    store = account.store
    if kind == "LIMIT":
        if params.get("timeInForce", "") != "GTC":
            raise Refused(400, protocol.UNSUPPORTED_OPERATION,
                          "The simulator rests every limit order: timeInForce GTC only.")
        price, size = positive(params, "price"), positive(params, "quantity")
        return lambda: store.place_limit(symbol, side.lower(), price, size, client)
    if side == "BUY":
        notional = positive(params, "quoteOrderQty")
        return lambda: store.place_market(symbol, "buy", notional=notional,
                                          client_order_id=client)
    size = positive(params, "quantity")
    return lambda: store.place_market(symbol, "sell", size=size, client_order_id=client)


def placed(venue: Venue, order: SimOrder, response_type: str) -> dict[str, Any]:
    """A new order's answer: ACK, RESULT or FULL (the default: RESULT and the fills)."""
    answer: dict[str, Any] = {"symbol": binance_symbol(order.symbol),
                              "orderId": int(order.order_id), "orderListId": -1,
                              "clientOrderId": client_id(order),
                              "transactTime": order.create_time}
    if response_type == "ACK":
        return answer
    full = row(order)
    for name in ("price", "origQty", "executedQty", "origQuoteOrderQty",
                 "cummulativeQuoteQty", "status", "timeInForce", "type", "side",
                 "workingTime", "selfTradePreventionMode"):
        answer[name] = full[name]
    if response_type != "RESULT":
        quote = order.symbol.split("_", 1)[1]
        answer["fills"] = [{"price": amount(f.price), "qty": amount(f.size),
                            "commission": amount(f.fee), "commissionAsset": quote,
                            "tradeId": int(f.trade_id)} for f in order.fills]
    return answer


def place(venue: Venue, account: AccountState, params: Params,
          make: Callable[[], SimOrder]) -> dict[str, Any]:
    try:
        order = make()
    except OrderError as exc:
        raise Refused(400, protocol.NEW_ORDER_REJECTED, str(exc)) from None
    return placed(venue, order, params.get("newOrderRespType", "FULL"))


def place_order(venue: Venue, account: AccountState | None, params: Params) -> Any:
    assert account is not None
    return place(venue, account, params, new_order(venue, account, params))


def cancel(venue: Venue, account: AccountState, symbol: str, params: Params,
           id_name: str, client_name: str, new_name: str) -> dict[str, Any]:
    """Cancel an open order: the answer names the cancel's own client id (given, or made)
    as `clientOrderId` and the order's as `origClientOrderId`, as Binance does."""
    own = client_order_id(params, new_name)
    try:
        order = find(account, symbol, params, id_name, client_name)
    except Refused:
        raise Refused(400, protocol.CANCEL_REJECTED, "Unknown order sent.") from None
    if not order.is_open:
        raise Refused(400, protocol.CANCEL_REJECTED, "Unknown order sent.")
    venue.cancel_ids[order.order_id] = own or "cancel" + secrets.token_hex(8)
    account.store.cancel(order.order_id)
    ended = row(order)
    answer = {"symbol": ended["symbol"], "origClientOrderId": client_id(order),
              "orderId": ended["orderId"], "orderListId": -1,
              "clientOrderId": venue.cancel_ids[order.order_id],
              "transactTime": order.update_time}
    for name in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status",
                 "timeInForce", "type", "side", "selfTradePreventionMode"):
        answer[name] = ended[name]
    return answer


def cancel_order(venue: Venue, account: AccountState | None, params: Params) -> Any:
    assert account is not None
    symbol = store_symbol(venue, account, params.get("symbol"))
    return cancel(venue, account, symbol, params, "orderId", "origClientOrderId",
                  "newClientOrderId")


def cancel_replace(venue: Venue, account: AccountState | None, params: Params) -> Any:
    """Cancel an order and place a new one (a new orderId). STOP_ON_FAILURE: a failed
    cancel places nothing (400, -2022); ALLOW_FAILURE: the new order is placed anyway. A
    half that failed while the other succeeded answers 409 (-2021)."""
    assert account is not None
    mode = params.get("cancelReplaceMode")
    if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
        raise mandatory("cancelReplaceMode")
    symbol = store_symbol(venue, account, params.get("symbol"))
    make = new_order(venue, account, params)
    cancelled: dict[str, Any] | None = None
    try:
        cancelled = cancel(venue, account, symbol, params, "cancelOrderId",
                           "cancelOrigClientOrderId", "cancelNewClientOrderId")
        cancel_answer: dict[str, Any] = cancelled
    except Refused as refused:
        cancel_answer = {"code": refused.code, "msg": refused.message}
        if mode == "STOP_ON_FAILURE":
            raise Partial(400, {"code": protocol.CANCEL_REPLACE_FAILED,
                                "msg": "Order cancel-replace failed.",
                                "data": {"cancelResult": "FAILURE",
                                         "newOrderResult": "NOT_ATTEMPTED",
                                         "cancelResponse": cancel_answer,
                                         "newOrderResponse": None}}) from None
    try:
        new_answer: dict[str, Any] = place(venue, account, params, make)
        new_result = "SUCCESS"
    except Refused as refused:
        new_answer, new_result = {"code": refused.code, "msg": refused.message}, "FAILURE"
    results = {"cancelResult": "SUCCESS" if cancelled else "FAILURE",
               "newOrderResult": new_result, "cancelResponse": cancel_answer,
               "newOrderResponse": new_answer}
    if cancelled and new_result == "SUCCESS":
        return results
    failed = not cancelled and new_result == "FAILURE"
    raise Partial(400 if failed else 409, {
        "code": protocol.CANCEL_REPLACE_FAILED if failed else protocol.CANCEL_REPLACE_PARTIAL,
        "msg": "Order cancel-replace failed." if failed else
        "Order cancel-replace partially failed.", "data": results})


def amend(venue: Venue, account: AccountState | None, params: Params) -> Any:
    """Reduce an open order's quantity, keeping its orderId and its place: its client id
    becomes `newClientOrderId`, or a new random one ([BN] faqs/order_amend_keep_priority.md)."""
    assert account is not None
    symbol = store_symbol(venue, account, params.get("symbol"))
    order = find(account, symbol, params)
    new_size = positive(params, "newQty")
    new_client = client_order_id(params, "newClientOrderId") or secrets.token_hex(11)
    if not order.is_open:
        raise Refused(400, AMEND_REFUSED, "Order amend rejected: the order is not open.")
    old_client = client_id(order)
    before = venue.replaced_ids.get(order.order_id)
    venue.replaced_ids[order.order_id] = old_client  # the event, spelled as it is emitted
    try:
        account.store.amend(order.order_id, new_size, new_client)
    except OrderError as exc:
        if before is None:
            del venue.replaced_ids[order.order_id]
        else:
            venue.replaced_ids[order.order_id] = before
        raise Refused(400, AMEND_REFUSED, f"Order amend rejected: {exc}.") from None
    amended = row(order)
    return {"transactTime": order.update_time, "executionId": order.update_time,
            "amendedOrder": {
                "symbol": amended["symbol"], "orderId": amended["orderId"], "orderListId": -1,
                "origClientOrderId": old_client, "clientOrderId": client_id(order),
                "price": amended["price"], "qty": amended["origQty"],
                "executedQty": amended["executedQty"], "preventedQty": amount(Decimal(0)),
                "quoteOrderQty": amount(Decimal(0)),
                "cumulativeQuoteQty": amended["cummulativeQuoteQty"],
                "status": amended["status"], "timeInForce": "GTC", "type": amended["type"],
                "side": amended["side"], "workingTime": amended["workingTime"],
                "selfTradePreventionMode": amended["selfTradePreventionMode"]}}
