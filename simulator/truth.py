"""How the ground truth spells an order, and the two amount styles every face shares.

The truth (`GET /control/truth`, and each control call's answer) is what the harness and
the benchmarks judge a client's book against, so its shape is the simulator's own contract:
it is spelled here, not borrowed from a face, so that no change to a venue's wire moves it.
Its field names are those of BitMart's v4 order: the books it is compared with hold
BitMart's orders, and a v4 answer can be checked against it field by field.

Amounts come in two styles (`Settings.amounts`). "minimal": the fewest decimals ("3.52",
"0"), as live exchanges write them; "padded": every amount at its scale ("3.52000",
"0.00000000"), as documentation examples do.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.store import SimOrder, SymbolSpec


def dec(value: Decimal, scale: int, amounts: str) -> str:
    text = f"{value.quantize(Decimal(1).scaleb(-scale)):f}"
    if amounts == "minimal" and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def truth_row(o: SimOrder, spec: SymbolSpec, amounts: str) -> dict[str, Any]:
    """Every fact about one order: its state and amounts, its fees and how many fills."""
    avg = o.filled_notional / o.filled_size if o.filled_size else Decimal(0)
    return {
        "orderId": o.order_id,
        "clientOrderId": o.client_order_id or o.order_id,
        "symbol": o.symbol,
        "side": o.side,
        "orderMode": "spot",
        "type": o.type,
        "state": o.state,
        "cancelSource": o.cancel_source,
        "stpMode": "none",
        "price": dec(o.price, spec.price_scale, amounts),
        "priceAvg": dec(avg, spec.price_scale, amounts),
        "size": dec(o.size, spec.size_scale, amounts),
        "filledSize": dec(o.filled_size, spec.size_scale, amounts),
        "notional": dec(o.notional, 8, amounts),
        "filledNotional": dec(o.filled_notional, 8, amounts),
        "createTime": o.create_time,
        "updateTime": o.update_time,
        "fees": dec(o.fees, 8, amounts),
        "fills": len(o.fills),
    }
