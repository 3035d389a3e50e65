"""OKX's spelling of an order: the REST row (orders-pending, order detail) and the element
of an `orders` push, from the core's orders and changes.

The core's states map onto OKX's: new -> live, partially_filled, filled, and canceled and
partially_canceled -> canceled (`accFillSz` tells them apart). Every value is a string,
"none" is "", amounts have the fewest decimals, booleans are "true"/"false" (docs/okx.md).
A market buy is sized in the quote currency (`tgtCcy` `quote_ccy`), as OKX's default for
a spot market buy; fees are written in the quote currency, negative (a charge).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.store import AMENDED, OrderChange, SimOrder

STATE = {"new": "live", "partially_filled": "partially_filled", "filled": "filled",
         "canceled": "canceled", "partially_canceled": "canceled"}
# Who ended an order: the user ("1") or the system ("0"), [OKX] orders channel cancelSource.
CANCEL_SOURCE = {"user": "1", "system": "0"}
STP_MODE = "cancel_maker"  # OKX's default self-trade prevention mode
AMENDED_BY_USER = "1"  # amendSource: "Order amended by user"


def amount(value: Decimal) -> str:
    """The fewest decimals, as OKX writes amounts: `0.001`, `13013.5`, `0`."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def okx_symbol(name: str) -> str:
    """The core writes BASE_QUOTE; OKX writes BASE-QUOTE."""
    return name.replace("_", "-")


def _fee(value: Decimal) -> str:
    return amount(-value) if value else "0"


def row(order: SimOrder) -> dict[str, Any]:
    """An order as orders-pending and the order detail answer it ([OKX]
    #order-book-trading-trade-get-order-list): the last fill's fields are the last fill's."""
    quote = order.symbol.split("_", 1)[1]
    market_buy = order.type == "market" and order.side == "buy"
    last = order.fills[-1] if order.fills else None
    avg = order.filled_notional / order.filled_size if order.filled_size else None
    return {
        "instType": "SPOT", "instId": okx_symbol(order.symbol), "tgtCcy":
            "quote_ccy" if market_buy else "", "ccy": "", "ordId": order.order_id,
        "clOrdId": order.client_order_id or "", "tag": "",
        "px": amount(order.price) if order.type == "limit" else "", "pxUsd": "", "pxVol": "",
        "pxType": "", "sz": amount(order.notional if market_buy else order.size), "pnl": "0",
        "ordType": order.type, "side": order.side, "posSide": "net", "tdMode": "cash",
        "accFillSz": amount(order.filled_size),
        "fillPx": amount(last.price) if last else "", "tradeId": last.trade_id if last else "",
        "fillSz": amount(last.size) if last else "0",
        "fillTime": str(last.time) if last else "",
        "avgPx": amount(avg.quantize(Decimal("1e-12"))) if avg is not None else "",
        "state": STATE[order.state], "lever": "", "attachAlgoClOrdId": "",
        "tpTriggerPx": "", "tpTriggerPxType": "", "tpOrdPx": "", "slTriggerPx": "",
        "slTriggerPxType": "", "slOrdPx": "", "attachAlgoOrds": [],
        "linkedAlgoOrd": {"algoId": ""}, "stpId": "", "stpMode": STP_MODE,
        "feeCcy": quote, "fee": _fee(order.fees), "rebateCcy": quote, "rebate": "0",
        "source": "", "category": "normal", "reduceOnly": "false", "isTpLimit": "false",
        "cancelSource": "" if order.is_open else CANCEL_SOURCE.get(order.cancel_source, ""),
        "cancelSourceReason": "", "quickMgnType": "", "algoClOrdId": "", "algoId": "",
        "tradeQuoteCcy": quote, "uTime": str(order.update_time),
        "cTime": str(order.create_time),
    }


def push_row(change: OrderChange, req_id: str = "", u_time: int | None = None
             ) -> dict[str, Any]:
    """One element of an `orders` push ([OKX] #order-book-trading-trade-ws-order-channel):
    the REST row's fields (but `cancelSourceReason`), the fill fields of this update only,
    `avgPx` "0" when nothing filled, and the push's own: `reqId` and `amendResult` of an
    amend, `code`/`msg`. `u_time` restamps it (the `push_repeat` fault)."""
    order, fill = change.order, change.fill
    element = row(order)
    del element["cancelSourceReason"]
    amended = change.kind == AMENDED
    element.update({
        "fillPx": amount(fill.price) if fill else "", "tradeId": fill.trade_id if fill else "",
        "fillSz": amount(fill.size) if fill else "0",
        "fillTime": str(fill.time) if fill else "",
        "fillFee": _fee(fill.fee) if fill else "0",
        "fillFeeCcy": element["feeCcy"] if fill else "", "execType": fill.role if fill else "",
        "fillPnl": "0", "fillNotionalUsd": "", "fillMarkPx": "", "fillIdxPx": "",
        "fillFwdPx": "", "fillMarkVol": "", "fillPxVol": "", "fillPxUsd": "",
        "avgPx": element["avgPx"] or "0", "notionalUsd": "", "lastPx": "",
        "reqId": req_id if amended else "", "amendResult": "0" if amended else "",
        "amendSource": AMENDED_BY_USER if amended else "", "code": "0", "msg": "",
    })
    if u_time is not None:
        element["uTime"] = str(u_time)
    return element
