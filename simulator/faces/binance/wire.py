"""Binance's spelling of an order: the REST row (openOrders, order query) and the
`executionReport` event, from the core's orders and changes.

The core's states map to Binance's `status`: new -> NEW, partially_filled ->
PARTIALLY_FILLED, filled -> FILLED, canceled and partially_canceled -> CANCELED (with its
executedQty telling them apart). Amounts are written with 8 decimals, as Binance writes
them; ids are JSON numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.store import AMENDED, ENDED, PLACED, TRADED, OrderChange, SimOrder

STATUS = {"new": "NEW", "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED",
          "canceled": "CANCELED", "partially_canceled": "CANCELED"}
EXECUTION_TYPE = {PLACED: "NEW", TRADED: "TRADE", ENDED: "CANCELED", AMENDED: "REPLACED"}
STP_MODE = "EXPIRE_MAKER"  # Binance's default self-trade prevention mode
EIGHT = Decimal("0.00000001")


def amount(value: Decimal) -> str:
    return f"{value.quantize(EIGHT):f}"


def binance_symbol(name: str) -> str:
    """The core writes BASE_QUOTE; Binance writes BASEQUOTE."""
    return name.replace("_", "")


def client_id(order: SimOrder) -> str:
    """An order's client id: the one it was given, else the one Binance would have made
    for it (stable, so every answer and event agrees)."""
    return order.client_order_id or f"sim{order.order_id}"


def row(order: SimOrder) -> dict[str, Any]:
    """An order as openOrders and the order query answer it ([BN] rest-api.md)."""
    working = order.create_time
    return {
        "symbol": binance_symbol(order.symbol), "orderId": int(order.order_id),
        "orderListId": -1, "clientOrderId": client_id(order),
        "price": amount(order.price), "origQty": amount(order.size),
        "executedQty": amount(order.filled_size),
        "cummulativeQuoteQty": amount(order.filled_notional),
        "status": STATUS[order.state], "timeInForce": "GTC", "type": order.type.upper(),
        "side": order.side.upper(), "stopPrice": amount(Decimal(0)),
        "icebergQty": amount(Decimal(0)), "time": order.create_time,
        "updateTime": order.update_time, "isWorking": True,
        "workingTime": working,
        "origQuoteOrderQty": amount(order.notional if order.type == "market"
                                    and order.side == "buy" else Decimal(0)),
        "selfTradePreventionMode": STP_MODE,
    }


def execution_report(change: OrderChange, event_ms: int, quote: str, client: str,
                     original: str) -> dict[str, Any]:
    """The `executionReport` of one change ([BN] user-data-stream.md "Order Update"):
    `client` is `c` (a cancel's own id on a cancel, the new id on an amend), `original`
    is `C` (the order's id on a cancel, the replaced id on an amend, else empty)."""
    order, fill = change.order, change.fill
    return {
        "e": "executionReport", "E": event_ms, "s": binance_symbol(order.symbol),
        "c": client, "S": order.side.upper(), "o": order.type.upper(), "f": "GTC",
        "q": amount(order.size), "p": amount(order.price), "P": amount(Decimal(0)),
        "F": amount(Decimal(0)), "g": -1, "C": original,
        "x": EXECUTION_TYPE[change.kind], "X": STATUS[order.state], "r": "NONE",
        "i": int(order.order_id), "l": amount(fill.size if fill else Decimal(0)),
        "z": amount(order.filled_size), "L": amount(fill.price if fill else Decimal(0)),
        "n": amount(fill.fee if fill else Decimal(0)), "N": quote if fill else None,
        "T": order.update_time, "t": int(fill.trade_id) if fill else -1,
        "I": order.update_time, "w": order.is_open, "m": bool(fill and fill.role == "M"),
        "M": False, "O": order.create_time, "Z": amount(order.filled_notional),
        "Y": amount(fill.notional if fill else Decimal(0)),
        "Q": amount(order.notional if order.type == "market" and order.side == "buy"
                    else Decimal(0)),
        "W": order.create_time, "V": STP_MODE,
    }
