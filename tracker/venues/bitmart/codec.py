"""BitMart's payloads to `OrderUpdate`s: pure, no I/O.

Four shapes reach the tracker (v2 list/detail rows, v4 order objects, WebSocket push rows,
and the same row shapes from order-detail answers). Each is checked field by field (the
checks every venue shares are `tracker.codec`'s) and turned into exact `Decimal` amounts
and the book's state vocabulary, which is BitMart's current one.

Pushes come thousands a second, so a whole push frame is first offered to `push_frame`:
msgspec parses it straight into typed rows, checking types and patterns in C, for the one
shape the exchange sends. Whatever that path does not take (any error, any field it does
not know) goes to `json.loads` and `from_push`, which stay the authority: the fast path
accepts a subset of what `from_push` accepts and yields exactly what it yields (a property
test holds the two equal).
"""

from __future__ import annotations

import re
import sys
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from tracker.codec import (
    KNOWN_SIDE,
    KNOWN_STATE,
    Invalid,
    NotFast,
    OrderUpdate,
    amount,
    check_fill,
    decimal,
    fast_time,
    field_of,
    known,
    plain_decimal,
    require_object,
    side,
    text,
    time_field,
)
from tracker.venues.bitmart.protocol import LEGACY_STATE, V2_STATUS

KNOWN_TYPE = {t: t for t in ("limit", "market", "limit_maker", "ioc")}

ORDER_ID = re.compile(r"[0-9]{1,32}")
SYMBOL = re.compile(r"[A-Z0-9]{1,20}_[A-Z0-9]{1,20}")
CLIENT_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def split_symbols(symbols: list[str]) -> dict[str, tuple[str, str]]:
    """Each symbol's (base, quote): BitMart writes a pair as BASE_QUOTE, with the one
    underscore SYMBOL allows."""
    pairs = {}
    for symbol in symbols:
        if SYMBOL.fullmatch(symbol):
            base, quote = symbol.split("_")
            pairs[symbol] = (base, quote)
    return pairs


def listed_markets(data: Any) -> dict[str, tuple[str, str]] | None:
    """The (base, quote) of each pair in the `data` of `GET /spot/v1/symbols/details`
    (`{"symbols": [{"symbol", "base_currency", "quote_currency", ...}]}`); None when it
    is not that shape. A row without those three texts, or with a symbol that is not one,
    is left out: the pairs the list does state are still good."""
    rows = data.get("symbols") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return None
    pairs = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        symbol, base, quote = (row.get(k) for k in ("symbol", "base_currency",
                                                    "quote_currency"))
        if (isinstance(symbol, str) and SYMBOL.fullmatch(symbol)
                and isinstance(base, str) and isinstance(quote, str)):
            pairs[symbol] = (base, quote)
    return pairs


def _symbol(row: dict[str, Any], name: str) -> str:
    return sys.intern(text(row, name, SYMBOL))


def from_v2(row: Any, source: str = "seed_v2") -> OrderUpdate:
    """A `GET /v2/orders` row or a `GET /v2/orders/{id}` answer."""
    row = require_object(row)
    status = field_of(row, "status")
    if isinstance(status, str) and re.fullmatch(r"[0-9]{1,3}", status):
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or status not in V2_STATUS:
        raise Invalid(f"status is not an order status: {status!r:.40}")
    size, filled = amount(row, "original_amount"), amount(row, "executed_amount")
    state = V2_STATUS[status]
    if state == "canceled" and filled > 0:
        state = "partially_canceled"
    check_fill(size, filled, state)
    return OrderUpdate(
        order_id=text(row, "entrust_id", ORDER_ID),
        symbol=_symbol(row, "symbol"),
        side=side(row),
        state=state,
        price=amount(row, "price"),
        size=size,
        filled_size=filled,
        source=source,
        type=None,  # v2 rows do not say; a detail answer must not overwrite a known type
        create_time=time_field(row, "timestamp"),
    )


def from_v4(row: Any, source: str = "seed_v4") -> OrderUpdate:
    """A v4 order object (`query/open-orders` element or `query/order` data)."""
    row = require_object(row)
    raw_state = field_of(row, "state")
    if (state := known(raw_state, KNOWN_STATE)) is None:
        raise Invalid(f"unknown state {raw_state!r:.40}")
    size, filled = amount(row, "size"), amount(row, "filledSize")
    check_fill(size, filled, state)
    order_id = text(row, "orderId", ORDER_ID)
    client = row.get("clientOrderId")
    return OrderUpdate(
        order_id=order_id,
        symbol=_symbol(row, "symbol"),
        side=side(row),
        state=state,
        price=amount(row, "price"),
        size=size,
        filled_size=filled,
        source=source,
        type=_type(row.get("type")),
        filled_notional=decimal(row, "filledNotional") if "filledNotional" in row else None,
        # REST echoes the order id when no client id was set: that is not a client id.
        client_order_id=_client_id(client, order_id),
        create_time=time_field(row, "createTime"),
        update_time=time_field(row, "updateTime"),
    )


def from_push(row: Any) -> OrderUpdate:
    """One element of a private-channel push's `data` array (every value a string)."""
    row = require_object(row)
    for name, value in row.items():
        if not isinstance(value, str):
            raise Invalid(f"push field {name} must be a string, not {type(value).__name__}")
    state = _push_state(row)
    size, filled = amount(row, "size"), amount(row, "filled_size")
    if state is None:  # legacy "canceling": still open, as far as its fills say
        state = "partially_filled" if filled > 0 else "new"
    check_fill(size, filled, state)
    order_id = text(row, "order_id", ORDER_ID)
    detail = row.get("detail_id") or None
    return OrderUpdate(
        order_id=order_id,
        symbol=_symbol(row, "symbol"),
        side=side(row),
        state=state,
        price=amount(row, "price"),
        size=size,
        filled_size=filled,
        source="push",
        type=_type(row.get("type")),
        filled_notional=(decimal(row, "filled_notional", allow_empty=True)
                         if "filled_notional" in row else None),
        client_order_id=_client_id(row.get("client_order_id"), order_id),
        create_time=time_field(row, "create_time", required=False)
        or time_field(row, "ms_t", required=False),
        update_time=time_field(row, "update_time", required=False),
        fill_id=detail,
    )


def _push_state(row: dict[str, Any]) -> str | None:
    """`order_state` is the current field; the legacy numeric `state` is the fallback."""
    if "order_state" in row:
        state = row["order_state"]
        if (word := known(state, KNOWN_STATE)) is None:
            raise Invalid(f"unknown order_state {state!r:.40}")
        return word
    legacy = field_of(row, "state")
    if legacy not in LEGACY_STATE:
        raise Invalid(f"unknown legacy state {legacy!r:.40}")
    return LEGACY_STATE[legacy]


def _type(value: Any) -> str | None:
    if value is None:
        return None
    if (word := known(value, KNOWN_TYPE)) is None:
        raise Invalid(f"unknown order type {value!r:.40}")
    return word


def _client_id(value: Any, order_id: str) -> str | None:
    if value in (None, "", "0", order_id):
        return None
    if not isinstance(value, str) or not CLIENT_ID.fullmatch(value):
        raise Invalid(f"client order id is malformed: {value!r:.40}")
    return value


# -- the fast path for push frames ------------------------------------------------------

_Field = str | UnsetType  # absent, or a string: a push has no other kind of value


class _PushRow(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A push element as the exchange sends it: every value a string, every field known.
    A field missing, of another type, or unknown fails here and leaves it to `from_push`.
    Patterns are checked after, in Python: msgspec's own pattern constraint costs several
    times as much per field."""

    order_id: str
    symbol: str
    side: str
    price: str
    size: str
    filled_size: str
    order_state: _Field = UNSET
    state: _Field = UNSET
    type: _Field = UNSET
    filled_notional: _Field = UNSET
    client_order_id: _Field = UNSET
    create_time: _Field = UNSET
    ms_t: _Field = UNSET
    update_time: _Field = UNSET
    detail_id: _Field = UNSET
    # Sent, and not read by the tracker.
    notional: _Field = UNSET
    margin_trading: _Field = UNSET
    order_type: _Field = UNSET
    order_mode: _Field = UNSET
    entrust_type: _Field = UNSET
    last_fill_time: _Field = UNSET
    last_fill_price: _Field = UNSET
    last_fill_count: _Field = UNSET
    exec_type: _Field = UNSET
    dealFee: _Field = UNSET  # the exchange's own spelling
    deal_fee_coin_name: _Field = UNSET


class _PushFrame(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    table: str
    data: list[_PushRow]


_PUSH_FRAME = msgspec.json.Decoder(_PushFrame)


def push_frame(frame_text: str | bytes) -> tuple[str, list[OrderUpdate]] | None:
    """A push frame's table and its elements as updates, when every element has the shape
    the exchange sends and passes every check `from_push` makes; None otherwise (the frame
    is then read by `json.loads` and `from_push`, element by element)."""
    try:
        frame = _PUSH_FRAME.decode(frame_text)
        return frame.table, [_fast_update(row) for row in frame.data]
    except (msgspec.DecodeError, NotFast, Invalid):
        return None


def _fast_update(row: _PushRow) -> OrderUpdate:
    """`from_push` for a row msgspec has typed; any doubt is `NotFast`."""
    order_id = row.order_id
    price, size, filled = (plain_decimal(row.price), plain_decimal(row.size),
                           plain_decimal(row.filled_size))
    if not (ORDER_ID.fullmatch(order_id) and SYMBOL.fullmatch(row.symbol)) \
            or price is None or size is None or filled is None:
        raise NotFast
    if (state := row.order_state) is not UNSET:
        state = KNOWN_STATE.get(state)
    elif (legacy := row.state) is not UNSET and legacy in LEGACY_STATE:
        state = LEGACY_STATE[legacy] or ""  # "" for canceling: open, as its fills say
    if state is None or state is UNSET or (side := KNOWN_SIDE.get(row.side)) is None:
        raise NotFast
    if not state:
        state = "partially_filled" if filled > 0 else "new"
    check_fill(size, filled, state)
    if (kind := row.type) is not UNSET and (kind := KNOWN_TYPE.get(kind)) is None:
        raise NotFast
    notional = None
    if (spelled := row.filled_notional) is not UNSET and spelled and \
            (notional := plain_decimal(spelled)) is None:
        raise NotFast
    client = row.client_order_id
    if client is UNSET or client in ("", "0", order_id):
        client = None
    elif not CLIENT_ID.fullmatch(client):
        raise NotFast
    return OrderUpdate(
        order_id, sys.intern(row.symbol), side, state, price, size, filled,
        "push", None if kind is UNSET else kind, notional,
        client, _fast_time(row.create_time) or _fast_time(row.ms_t),
        _fast_time(row.update_time), row.detail_id or None)


def _fast_time(value: str | UnsetType) -> int | None:
    """`fast_time` of a field a push may leave out."""
    return None if value is UNSET else fast_time(value)
