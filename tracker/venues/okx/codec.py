"""OKX's payloads to `OrderUpdate`s: pure, no I/O.

Two sources, one shape: an `orders-pending` row or a `GET /api/v5/trade/order` answer, and
an element of the `orders` channel's `data` array carry the same field names ([OKX]
#order-book-trading-trade-get-order-list, ...-get-order-details, ...-ws-order-channel, as
docs/okx.md cites them). Every value is a string, "none" is `""` ([OKX] and captures,
../shared/venues.md 2.7 and 4), and each field is checked with `tracker.codec`'s shared
checks, amounts kept as the exact decimals OKX writes. Only the fields the book needs are
read: OKX keeps adding fields, and an unknown one is no reason to refuse an order.

OKX has no sequence number; the merge rule orders an order's updates by (state rank,
`accFillSz`, `uTime`). An amend changes `sz` or `px` and leaves `accFillSz` alone, with a
later `uTime` ([OKX-BP] "Order timestamp"): that is what lets it win over the state before
it. A push repeated "perhaps with a different uTime" changes no state or fill, so the book's
order stays what it was whichever copy wins.

An account's pushes come thousands a second, so a whole `orders` frame is first offered to
`push_frame`: msgspec parses it straight into the fields `from_push` reads, typed in C, and
skips the rest. Whatever that path doubts goes to `json.loads`, the frame decoder and
`from_push`, which stay the authority: the fast path takes a subset of what they take and
yields exactly what they yield (property tests hold the two equal, as Binance's).
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
    KNOWN_SIDE,
    Interned,
    Invalid,
    NotFast,
    OrderUpdate,
    amount,
    check_fill,
    decimal,
    fast_time,
    field_of,
    plain_decimal,
    require_object,
    side,
    time_field,
)
from tracker.venues.okx.protocol import (
    INSTRUMENT,
    ORDER_ID,
    ORDER_TYPES,
    ORDERS_CHANNEL,
    SPOT,
    book_order_id,
)

# `state` to the book's words. canceled and mmp_canceled end an order; what it filled
# decides canceled or partially_canceled (an IOC partly filled then canceled is `canceled`
# with accFillSz above 0: [OKX] #order-book-trading-trade-get-order-details).
STATE = {"live": "new", "partially_filled": "partially_filled", "filled": "filled",
         "canceled": "canceled", "mmp_canceled": "canceled"}
TYPE = {t: t for t in ORDER_TYPES}
# OKX takes up to 32 alphanumerics for a new clOrdId; an order placed elsewhere (the web,
# a broker) may carry another label. Any printable ASCII up to 64 is taken: refusing an
# order for an odd label would hide the order.
CLIENT_ID = re.compile(r"[\x21-\x7e]{1,64}")
TRADE_ID = re.compile(r"[\x21-\x7e]{1,64}")
MARKET = "market"
QUOTE_CCY, BASE_CCY = "quote_ccy", "base_ccy"
_ZERO = Decimal(0)


def instrument(row: dict[str, Any]) -> str:
    """The `instId` of a spot order (`BTC-USDT`), interned: an account trades a few."""
    inst_type = row.get("instType", SPOT)
    if inst_type != SPOT:
        raise Invalid(f"instType is {str(inst_type)[:20]!r}, not SPOT: only spot orders are "
                      "tracked")
    value = field_of(row, "instId")
    if not isinstance(value, str) or not INSTRUMENT.fullmatch(value):
        raise Invalid(f"instId is not a spot instrument (BASE-QUOTE): {str(value)[:40]!r}")
    return sys.intern(value)


def order_id(row: dict[str, Any]) -> str:
    value = field_of(row, "ordId")
    if not isinstance(value, str) or not ORDER_ID.fullmatch(value):
        raise Invalid(f"ordId must be a string of digits, not {str(value)[:40]!r}")
    return book_order_id(value)


def _state(row: dict[str, Any], filled: Decimal) -> str:
    raw = field_of(row, "state")
    state = STATE.get(raw) if isinstance(raw, str) else None
    if state is None:
        raise Invalid(f"unknown order state {raw!r:.40}")
    if state == "canceled" and filled > 0:
        return "partially_canceled"
    return state


def _price(row: dict[str, Any], kind: str | None) -> Decimal:
    """`px`; a market order has none (`""`), which the book holds as 0 (as Binance writes a
    market order's price)."""
    value = decimal(row, "px", allow_empty=kind == MARKET)
    return _ZERO if value is None else value


def _by_quote(row: dict[str, Any], kind: str | None, side_word: str) -> bool:
    """A spot market order sized in the quote currency: `sz` is then an amount of quote,
    `accFillSz` one of base, and the two are not compared. `tgtCcy` says which, and by
    default a market buy is in quote, a sell in base ([OKX]
    #order-book-trading-trade-post-place-order)."""
    if kind != MARKET:
        return False
    target = row.get("tgtCcy", "")
    return target == QUOTE_CCY or (target in ("", None) and side_word == "buy")


def _fill_check_size(size: Decimal, filled: Decimal, state: str, by_quote: bool) -> Decimal:
    """The size the fills are checked against (0: not checked). An order amended to a
    size at or below what it has filled becomes `filled` ([OKX]
    #order-book-trading-trade-post-amend-order, "newSz"); what `sz` it reports then is not
    documented, so a filled order's fills are not held to its size when they pass it."""
    if by_quote or (state == "filled" and filled > size):
        return _ZERO
    return size


def _client_id(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not CLIENT_ID.fullmatch(value):
        raise Invalid(f"clOrdId is malformed: {str(value)[:40]!r}")
    return value


def _fill_id(value: Any) -> str | None:
    """`tradeId`: this update's fill in a push, the last fill in REST; `""` without one."""
    return value if isinstance(value, str) and TRADE_ID.fullmatch(value) else None


def _type(row: dict[str, Any]) -> str | None:
    """An order type the book does not know is left unsaid (NULL), not refused: the type
    is a label, and OKX adds kinds now and then."""
    raw = row.get("ordType")
    return TYPE.get(raw) if isinstance(raw, str) else None


def _update(row: Any, source: str) -> OrderUpdate:
    row = require_object(row)
    symbol = instrument(row)
    ord_id = order_id(row)
    side_word = side(row)
    kind = _type(row)
    size, filled = amount(row, "sz"), amount(row, "accFillSz")
    state = _state(row, filled)
    check_fill(_fill_check_size(size, filled, state, _by_quote(row, kind, side_word)),
               filled, state)
    return OrderUpdate(
        order_id=ord_id,
        symbol=symbol,
        side=side_word,
        state=state,
        price=_price(row, kind),
        size=size,
        filled_size=filled,
        source=source,
        type=kind,
        # accFillSz x avgPx is not the quote amount filled: avgPx is an average OKX rounds
        # to a precision it does not state, and no field holds the exact sum. Unsaid.
        filled_notional=None,
        client_order_id=_client_id(row.get("clOrdId")),
        create_time=None if row.get("cTime") == "" else time_field(row, "cTime",
                                                                    required=False),
        update_time=time_field(row, "uTime"),
        fill_id=_fill_id(row.get("tradeId")),
    )


def from_rest(row: Any, source: str) -> OrderUpdate:
    """An `orders-pending` row or a `GET /api/v5/trade/order` answer's `data` element."""
    return _update(row, source)


def from_push(element: Any) -> OrderUpdate:
    """One element of an `orders` push's `data` array."""
    return _update(element, "push")


def element_id(raw: Any) -> str | None:
    """The order id a raw element names, if it names one plausibly: the session asks about
    an order whose element it could not read."""
    if not isinstance(raw, dict):
        return None
    value = raw.get("ordId")
    return book_order_id(value) if isinstance(value, str) and ORDER_ID.fullmatch(value) else None


# -- the fast path for `orders` frames ---------------------------------------------------------


class _Element(msgspec.Struct, gc=False):
    """The fields of an `orders` element that `from_push` reads, each of the type OKX sends
    (strings); any other type fails here and leaves the frame to `from_push`. Fields not
    named are skipped unread: OKX adds fields, and `from_push` ignores them too."""

    instId: str
    ordId: str
    side: str
    state: str
    px: str
    sz: str
    accFillSz: str
    uTime: str | int
    instType: str | UnsetType = UNSET
    ordType: str | UnsetType | None = UNSET
    tgtCcy: str | UnsetType | None = UNSET
    clOrdId: str | UnsetType | None = UNSET
    cTime: str | int | UnsetType = UNSET
    tradeId: str | UnsetType | None = UNSET


class _Arg(msgspec.Struct, gc=False):
    channel: str


class _Push(msgspec.Struct, gc=False):
    """A push: `arg` and `data`. A message with an `event` is no push, whatever else it
    holds (the frame decoder reads the event first), so its presence is noted."""

    arg: _Arg
    data: list[_Element]
    event: msgspec.Raw | UnsetType = UNSET


_PUSH = msgspec.json.Decoder(_Push)
_instrument = Interned(INSTRUMENT)  # `instrument`, remembered


def push_frame(frame_text: str) -> list[OrderUpdate] | None:
    """The updates of an `orders` push when every element has the shape OKX sends and
    passes every check `from_push` makes; None otherwise (the frame is then read by
    `json.loads`, the frame decoder and `from_push`)."""
    if len(frame_text) >= FAST_MAX_CHARS:
        return None
    try:
        push = _PUSH.decode(frame_text)
        if push.event is not UNSET or push.arg.channel != ORDERS_CHANNEL:
            return None
        return [_fast(element) for element in push.data]
    except (msgspec.DecodeError, RecursionError, NotFast, Invalid):
        return None


def _fast(e: _Element) -> OrderUpdate:
    """`from_push` for an element msgspec has typed; any doubt is `NotFast`."""
    if e.instType is not UNSET and e.instType != SPOT:
        raise NotFast
    kind = TYPE.get(e.ordType) if isinstance(e.ordType, str) else None
    price = e.px or ("0" if kind == MARKET else e.px)  # a market order's "": held as 0
    size, filled, price_ = plain_decimal(e.sz), plain_decimal(e.accFillSz), plain_decimal(price)
    if size is None or filled is None or price_ is None:
        raise NotFast
    symbol, book_side, state = _instrument(e.instId), KNOWN_SIDE.get(e.side), STATE.get(e.state)
    if book_side is None or state is None or not ORDER_ID.fullmatch(e.ordId):
        raise NotFast
    if state == "canceled" and filled > 0:
        state = "partially_canceled"
    target = "" if e.tgtCcy is UNSET else e.tgtCcy
    by_quote = kind == MARKET and (
        target == QUOTE_CCY or (target in ("", None) and book_side == "buy"))
    check_fill(_fill_check_size(size, filled, state, by_quote), filled, state)
    client = e.clOrdId
    if client is UNSET or client == "":
        client = None
    elif client is not None and not CLIENT_ID.fullmatch(client):
        raise NotFast
    fill = e.tradeId
    return OrderUpdate(
        book_order_id(e.ordId), symbol, book_side, state, price_, size, filled,
        "push", kind, None, client,
        None if e.cTime is UNSET or e.cTime == "" else fast_time(e.cTime),
        fast_time(e.uTime),
        fill if isinstance(fill, str) and TRADE_ID.fullmatch(fill) else None)
