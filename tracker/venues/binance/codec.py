"""Binance's payloads to `OrderUpdate`s: pure, no I/O.

Two shapes reach the tracker: REST order objects (an `openOrders` row, a `GET
/api/v3/order` answer: the same shape) and `executionReport` events (single letters).
Each is checked field by field with `tracker.codec`'s shared checks, amounts kept as the
exact decimals Binance writes. Only the fields the book needs are read: Binance keeps
adding fields (`eR` in 2026, the pegged-order fields in 2025), and an unknown one is no
reason to refuse an order.

The merge rule orders an order's updates by (state rank, filled quantity, update time);
Binance gives no sequence number, so the update time is the transaction time `T` of an
event and `updateTime` of a REST row ([BN] user-data-stream.md, rest-api.md). That is
what lets an amend (`x=REPLACED`: quantity down, filled unchanged, a later `T`) win over
the NEW before it, and a repeat or an older event lose.

Events come thousands a second, so a whole `{"subscriptionId", "event"}` frame is first
offered to `report_frame`: msgspec parses it straight into the fields `from_event` reads,
typed in C, and skips the rest (Binance adds fields, which must not slow an event down or
turn it away). Whatever that path doubts goes to `json.loads` and `from_event`, which stay
the authority: the fast path takes a subset of what they take and yields exactly what
`from_event` yields (a property test holds the two equal).
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from tracker.codec import (
    FAST_MAX_CHARS,
    MAX_TIME_MS,
    MILLIS,
    MIN_TIME_MS,
    Interned,
    Invalid,
    NotFast,
    OrderUpdate,
    amount,
    check_fill,
    fast_time,
    field_of,
    plain_decimal,
    require_object,
    time_field,
    time_ms,
)
from tracker.venues.binance.protocol import EXECUTION_REPORT, ORDER_TYPES, SIDES, book_order_id

# A symbol as Binance writes it: upper-case ASCII letters and digits, and since 2025-12
# any non-ASCII character but a space or a control ([BN] CHANGELOG 2025-12-02: "symbols
# may contain non-ASCII UTF-8"; the testnet lists `这是测试币456`). Never `_` or `:`,
# which the book's `SYMBOL:orderId` splits on.
SYMBOL = re.compile(r"(?:[A-Z0-9]|[^\x00-\x9f\s]){1,40}")
ORDER_ID = re.compile(r"[0-9]{1,20}")
# The book's id: `SYMBOL:orderId` (orderIds are unique within a symbol only).
BOOK_ORDER_ID = re.compile(rf"{SYMBOL.pattern}:{ORDER_ID.pattern}")
# Binance takes `^[a-zA-Z0-9-_]{1,36}$` for a new client id; ids it made itself carry
# platform prefixes (`web_`, `ios_`, `x-`). Any printable ASCII up to 64 is taken: a client
# id is a label, and refusing an order for an odd one would hide the order.
CLIENT_ID = re.compile(r"[\x21-\x7e]{1,64}")

# Order status (`status`, `X`) to the book's words ([BN] enums.md "Order status").
# CANCELED and both EXPIRED end an order; what it filled decides canceled or
# partially_canceled. PENDING_CANCEL is "currently unused": read as open, by its fills.
STATE = {"NEW": "new", "PENDING_NEW": "new", "PARTIALLY_FILLED": "partially_filled",
         "FILLED": "filled", "CANCELED": "canceled", "EXPIRED": "canceled",
         "EXPIRED_IN_MATCH": "canceled", "REJECTED": "failed", "PENDING_CANCEL": "open"}
SIDE = {side: side.lower() for side in SIDES}
TYPE = {t: t.lower() for t in ORDER_TYPES}
CANCELED = "CANCELED"  # the execution type whose `c` is the cancel request's own id
SEED_SOURCE = "seed"  # the journal's source of an openOrders row


def symbol_of(row: dict[str, Any], name: str) -> str:
    value = field_of(row, name)
    if not isinstance(value, str) or not SYMBOL.fullmatch(value):
        raise Invalid(f"{name} is not a Binance symbol: {str(value)[:40]!r}")
    return sys.intern(value)


def _order_id(row: dict[str, Any], name: str) -> str:
    value = field_of(row, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(f"{name} must be a non-negative integer, not {str(value)[:40]!r}")
    return str(value)


def _state(row: dict[str, Any], name: str, filled: Decimal) -> str:
    raw = field_of(row, name)
    state = STATE.get(raw) if isinstance(raw, str) else None
    if state is None:
        raise Invalid(f"unknown order status {raw!r:.40}")
    if state == "canceled" and filled > 0:
        return "partially_canceled"
    if state == "open":
        return "partially_filled" if filled > 0 else "new"
    return state


def _side(row: dict[str, Any], name: str) -> str:
    raw = field_of(row, name)
    side = SIDE.get(raw) if isinstance(raw, str) else None
    if side is None:
        raise Invalid(f"side must be BUY or SELL, not {raw!r:.40}")
    return side


def _type(row: dict[str, Any], name: str) -> str | None:
    """An order type the book does not know is left unsaid (NULL), not refused: the type
    is a label, and Binance adds kinds now and then."""
    raw = row.get(name)
    return TYPE.get(raw) if isinstance(raw, str) else None


def _client_id(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not CLIENT_ID.fullmatch(value):
        raise Invalid(f"client order id is malformed: {str(value)[:40]!r}")
    return value


def _notional(row: dict[str, Any], name: str) -> Decimal | None:
    """The cumulative quote quantity. A 2018 event carried a negative `Z` (captured,
    docs/binance.md): not a quantity, so left unsaid rather than the order refused."""
    value = row.get(name)
    if isinstance(value, str) and value.startswith("-"):
        return None
    return None if value is None else amount(row, name)


def _created(row: dict[str, Any], name: str) -> int | None:
    """Creation time; the 2018 events' `"O": -1` means not said."""
    value = time_ms(row.get(name))
    if value is None or not MIN_TIME_MS <= value <= MAX_TIME_MS:
        return None
    return value


def _by_quote(row: dict[str, Any], name: str) -> bool:
    """A MARKET order placed by quote amount (`quoteOrderQty`): its quantity is what the
    engine computes (or 0), so its fills are not checked against it."""
    value = row.get(name)
    return isinstance(value, str) and amount(row, name) > 0


def _fill_id(value: Any) -> str | None:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) and (
        value >= 0) else None


def from_rest(row: Any, source: str) -> OrderUpdate:
    """An `openOrders` row or a `GET /api/v3/order` answer ([BN] rest-api.md)."""
    row = require_object(row)
    symbol = symbol_of(row, "symbol")
    size, filled = amount(row, "origQty"), amount(row, "executedQty")
    state = _state(row, "status", filled)
    check_fill(Decimal(0) if _by_quote(row, "origQuoteOrderQty") else size, filled, state)
    return OrderUpdate(
        order_id=book_order_id(symbol, _order_id(row, "orderId")),
        symbol=symbol,
        side=_side(row, "side"),
        state=state,
        price=amount(row, "price"),
        size=size,
        filled_size=filled,
        source=source,
        type=_type(row, "type"),
        filled_notional=_notional(row, "cummulativeQuoteQty"),  # Binance's spelling
        client_order_id=_client_id(row.get("clientOrderId")),
        create_time=_created(row, "time"),
        update_time=time_field(row, "updateTime"),
    )


def from_event(event: Any) -> OrderUpdate:
    """An `executionReport` event, unwrapped ([BN] user-data-stream.md "Order Update").

    The client id is the order's own: on a cancel, `c` is the cancel request's id and
    `C` the order's ([BN] rest-api.md "Cancel order"; seen so in captures)."""
    event = require_object(event)
    symbol = symbol_of(event, "s")
    size, filled = amount(event, "q"), amount(event, "z")
    state = _state(event, "X", filled)
    check_fill(Decimal(0) if _by_quote(event, "Q") else size, filled, state)
    client = event.get("C") if event.get("x") == CANCELED and event.get("C") else event.get("c")
    return OrderUpdate(
        order_id=book_order_id(symbol, _order_id(event, "i")),
        symbol=symbol,
        side=_side(event, "S"),
        state=state,
        price=amount(event, "p"),
        size=size,
        filled_size=filled,
        source="push",
        type=_type(event, "o"),
        filled_notional=_notional(event, "Z"),
        client_order_id=_client_id(client),
        create_time=_created(event, "O"),
        update_time=time_field(event, "T"),
        fill_id=_fill_id(event.get("t")),
    )


# -- the fast path for executionReport frames ---------------------------------------------


class _Report(msgspec.Struct, gc=False):
    """The fields of an `executionReport` that `from_event` reads, each of the types
    Binance sends; any other type fails here and leaves the frame to `from_event`. Fields
    not named are skipped unread: Binance adds fields, and `from_event` ignores them too."""

    e: str
    s: str
    S: str
    X: str
    i: int
    q: str
    z: str
    p: str
    T: int | str
    x: str | UnsetType = UNSET
    c: str | UnsetType | None = UNSET
    C: str | UnsetType | None = UNSET
    o: str | UnsetType | None = UNSET
    Q: str | UnsetType = UNSET
    Z: str | UnsetType | None = UNSET
    O: int | str | UnsetType | None = UNSET  # noqa: E741 (Binance's name)
    t: int | UnsetType | None = UNSET


class _Envelope(msgspec.Struct, gc=False):
    """The WebSocket API's envelope; `subscriptionId` and anything else are not read."""

    event: _Report


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def report_frame(frame_text: str) -> OrderUpdate | None:
    """The update of a `{"subscriptionId", "event": executionReport}` frame when the event
    has the shape Binance sends and passes every check `from_event` makes; None otherwise
    (the frame is then read by `json.loads`, the frame decoder and `from_event`)."""
    if len(frame_text) >= FAST_MAX_CHARS:
        return None
    try:
        event = _ENVELOPE.decode(frame_text).event
        if event.e != EXECUTION_REPORT:
            return None
        return _fast_event(event)
    except (msgspec.DecodeError, RecursionError, NotFast, Invalid):
        return None


def _fast_event(event: _Report) -> OrderUpdate:
    """`from_event` for an event msgspec has typed; any doubt is `NotFast`."""
    client = event.C if event.x == CANCELED and event.C else event.c
    return _fast(event.s, event.i, event.S, event.X, event.p, event.q, event.z, event.Q,
                 event.Z, client, event.o, event.O, event.T, event.t, "push")


def _fast(symbol: str, order_id: int, side: str, status: str, price: str, size: str,
          filled: str, by_quote: str | UnsetType, notional: str | UnsetType | None,
          client: str | UnsetType | None, kind: str | UnsetType | None,
          created: int | str | UnsetType | None, updated: int | str,
          fill: int | UnsetType | None, source: str) -> OrderUpdate:
    """The checks and update of `from_event` and `from_rest` (the same, but for where
    each finds a field), on values msgspec has typed; any doubt is `NotFast`."""
    size_, filled_, price_ = plain_decimal(size), plain_decimal(filled), plain_decimal(price)
    if size_ is None or filled_ is None or price_ is None or order_id < 0:
        raise NotFast
    symbol, book_side, state = _symbol(symbol), SIDE.get(side), STATE.get(status)
    if book_side is None or state is None:
        raise NotFast
    if state == "canceled" and filled_ > 0:
        state = "partially_canceled"
    elif state == "open":
        state = "partially_filled" if filled_ > 0 else "new"
    if by_quote is not UNSET and plain_decimal(by_quote) is None:
        raise NotFast
    # A plain decimal is above zero when it has a digit other than 0.
    check_fill(_ZERO if by_quote and by_quote.strip("0.") else size_, filled_, state)
    if client is UNSET or client == "":
        client = None
    elif client is not None and not CLIENT_ID.fullmatch(client):
        raise NotFast
    if notional is UNSET or notional is None or notional.startswith("-"):
        quote_filled = None
    elif (quote_filled := plain_decimal(notional)) is None:
        raise NotFast
    return OrderUpdate(
        book_order_id(symbol, order_id), symbol, book_side, state, price_, size_,
        filled_, source, TYPE.get(kind) if isinstance(kind, str) else None, quote_filled,
        client, _fast_created(created), fast_time(updated),
        str(fill) if isinstance(fill, int) and fill >= 0 else None)


# -- the fast path for openOrders answers -------------------------------------------------


class _Row(msgspec.Struct, gc=False):
    """The fields of an `openOrders` row that `from_rest` reads, as `_Report` is for an
    event: any other type fails the answer here and leaves it to `json.loads`."""

    symbol: str
    orderId: int
    price: str
    origQty: str
    executedQty: str
    status: str
    side: str
    updateTime: int | str
    clientOrderId: str | UnsetType | None = UNSET
    cummulativeQuoteQty: str | UnsetType | None = UNSET
    type: str | UnsetType | None = UNSET
    time: int | str | UnsetType | None = UNSET
    origQuoteOrderQty: str | UnsetType = UNSET


_ROWS = msgspec.json.Decoder(list[_Row])


def open_orders_answer(body: bytes, source: str) -> list[OrderUpdate] | None:
    """Every row of an `openOrders` answer as `from_rest` reads it, when each row has the
    shape Binance sends and passes every check; None otherwise (the answer is then read by
    `json.loads` and each row by `from_rest`, which say what is wrong, if anything is).
    A seed of 100,000 orders reads 100,000 rows: typed in C, they are not dicts first.

    Unlike `report_frame`, an answer with an integer longer than `json.loads` takes (4300
    digits) in a field no path reads is read here: searching a seed's megabytes for one
    costs most of what this path saves, and the answer is valid JSON that only Python's
    guard against slow int conversions refuses; msgspec skips the field unconverted."""
    try:
        return [_fast(r.symbol, r.orderId, r.side, r.status, r.price, r.origQty,
                      r.executedQty, r.origQuoteOrderQty, r.cummulativeQuoteQty,
                      r.clientOrderId, r.type, r.time, r.updateTime, None, source)
                for r in _ROWS.decode(body)]
    except (msgspec.DecodeError, RecursionError, NotFast, Invalid):
        return None


_ZERO = Decimal(0)
_symbol = Interned(SYMBOL)  # `symbol_of`, remembered


def _fast_created(value: int | str | UnsetType | None) -> int | None:
    if isinstance(value, str):
        value = int(value) if MILLIS.fullmatch(value) else None
    elif not isinstance(value, int):
        return None
    return value if value is not None and MIN_TIME_MS <= value <= MAX_TIME_MS else None
