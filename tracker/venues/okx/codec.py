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
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from typing import Any

from tracker.codec import (
    Invalid,
    OrderUpdate,
    amount,
    check_fill,
    decimal,
    field_of,
    require_object,
    side,
    time_field,
)
from tracker.venues.okx.protocol import INSTRUMENT, ORDER_ID, ORDER_TYPES, SPOT, book_order_id

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
