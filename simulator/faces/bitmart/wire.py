"""How BitMart's faces spell an order, byte for byte as the protocol notes say.

v2 rows mix JSON numbers (id, time, status) with decimal strings (amounts); v4 objects use
camelCase strings with Long times; WebSocket pushes make every value a string and carry
fill-only fields only on fills.

Amounts come in the two styles of `simulator.truth.dec`. "minimal", as captured from the
live exchange: the fewest decimals ("3.52", "0", "9.976384"), and a fill's `dealFee` with 9.
"padded", as in BitMart's documentation examples: every amount at its scale ("3.52000",
"0.00000000").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.store import Fill, OrderChange, SimOrder, SymbolSpec
from simulator.truth import dec
from tracker.venues.bitmart.protocol import LEGACY_STATE_CODE, V2_STATUS_CODE


def _amounts(o: SimOrder, spec: SymbolSpec, amounts: str) -> tuple[str, str, str]:
    return (dec(o.price, spec.price_scale, amounts), dec(o.size, spec.size_scale, amounts),
            dec(o.filled_size, spec.size_scale, amounts))


def deal_fee(fee: Decimal, amounts: str) -> str:
    """A fill's fee on a push: 9 decimals on the live exchange, 8 in the documentation."""
    return dec(fee, 9, "padded") if amounts == "minimal" else dec(fee, 8, amounts)


def v2_row(o: SimOrder, spec: SymbolSpec, amounts: str) -> dict[str, Any]:
    price, size, filled = _amounts(o, spec, amounts)
    return {
        "entrust_id": int(o.order_id),
        "symbol": o.symbol,
        "timestamp": o.create_time,
        "side": o.side,
        "price": price,
        "fees": dec(o.fees, 8, amounts),
        "original_amount": size,
        "executed_amount": filled,
        "remaining_amount": dec(o.remaining, spec.size_scale, amounts),
        "status": V2_STATUS_CODE[o.state],
    }


def v4_order(o: SimOrder, spec: SymbolSpec, amounts: str) -> dict[str, Any]:
    price, size, filled = _amounts(o, spec, amounts)
    avg = o.filled_notional / o.filled_size if o.filled_size else Decimal(0)
    return {
        "orderId": o.order_id,
        # REST echoes the order id when no client id was given (protocol §2.6).
        "clientOrderId": o.client_order_id or o.order_id,
        "symbol": o.symbol,
        "side": o.side,
        "orderMode": "spot",
        "type": o.type,
        "state": o.state,
        "cancelSource": o.cancel_source,
        "stpMode": "none",
        "price": price,
        "priceAvg": dec(avg, spec.price_scale, amounts),
        "size": size,
        "filledSize": filled,
        "notional": dec(o.notional, 8, amounts),  # a market sell's: 0
        "filledNotional": dec(o.filled_notional, 8, amounts),
        "createTime": o.create_time,
        "updateTime": o.update_time,
    }


def v4_trade(o: SimOrder, f: Fill, spec: SymbolSpec, amounts: str) -> dict[str, Any]:
    return {
        "tradeId": f.trade_id,
        "orderId": o.order_id,
        "clientOrderId": o.client_order_id or o.order_id,
        "symbol": o.symbol,
        "side": o.side,
        "orderMode": "spot",
        "type": o.type,
        "price": dec(f.price, spec.price_scale, amounts),
        "size": dec(f.size, spec.size_scale, amounts),
        "notional": dec(f.notional, 8, amounts),
        "fee": dec(f.fee, 8, amounts),
        "feeCoinName": spec.quote,
        "tradeRole": "maker" if f.role == "M" else "taker",
        "createTime": f.time,
        "updateTime": f.time,
    }


def push_row(change: OrderChange, spec: SymbolSpec, amounts: str) -> dict[str, str]:
    """One element of a push's `data` array: every value a string (protocol §3.4)."""
    o, fill = change.order, change.fill
    price, size, filled = _amounts(o, spec, amounts)
    if o.type == "market" and o.side == "buy":
        notional = dec(o.notional, 8, amounts)  # market buy: the notional on every push
    elif o.type == "limit" and o.state == "new":
        notional = dec(o.notional, 8, amounts)  # limit: price x size on the `new` push only
    else:
        notional = ""
    row = {
        "symbol": o.symbol,
        "side": o.side,
        "type": o.type,
        "notional": notional,
        "size": size,
        "ms_t": str(o.create_time),  # creation time, not the event time
        "price": price,
        "filled_notional": dec(o.filled_notional, 8, amounts),
        "filled_size": filled,
        "margin_trading": "0",
        "state": LEGACY_STATE_CODE[o.state],
        "order_id": o.order_id,
        "order_type": "0",
        "last_fill_time": str(fill.time) if fill else "0",
        "last_fill_price": dec(fill.price, spec.price_scale, amounts) if fill else "0",
        "last_fill_count": dec(fill.size, spec.size_scale, amounts) if fill else "0",
        "client_order_id": str(o.client_order_id or "0"),
        "create_time": str(o.create_time),
        "update_time": str(o.update_time),
        "order_mode": "spot",
        "entrust_type": "NORMAL",
        "order_state": o.state,
        "dealFee": deal_fee(fill.fee, amounts) if fill else "0",
        "deal_fee_coin_name": spec.quote,
    }
    if fill is not None:
        row["exec_type"] = fill.role
        row["detail_id"] = fill.trade_id
    return row
