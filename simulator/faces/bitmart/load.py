"""BitMart's spelling of the benchmarks' load (`simulator.burst`): push rows in the
exchange's shape, framed as its WebSocket sends them.

The benchmarks make the very frames the simulator sends with these same functions and
arguments, to feed the daemon's floors and to check what a peer saw.
"""

from __future__ import annotations

import json

from simulator.burst import LoadPush, burst_pushes
from tracker.venues.bitmart import protocol


def row(push: LoadPush) -> dict[str, str]:
    """A push row (every value a string); price 1.5, a fill's fields only on a fill."""
    order_id, symbol, state, filled, size, start_ms = push
    filled_notional = f"{filled * 3 // 2}.{5 if filled % 2 else 0}"
    spelled = {"symbol": symbol, "side": "buy", "type": "limit", "notional": "",
               "size": str(size), "ms_t": str(start_ms), "price": "1.5",
               "filled_notional": filled_notional, "filled_size": str(filled),
               "margin_trading": "0", "state": protocol.LEGACY_STATE_CODE[state],
               "order_id": str(order_id), "order_type": "0", "client_order_id": "0",
               "create_time": str(start_ms), "update_time": str(start_ms + filled),
               "order_mode": "spot", "entrust_type": "NORMAL", "order_state": state}
    if filled:
        spelled |= {"exec_type": "M", "detail_id": f"{order_id}{filled:03d}",
                    "last_fill_time": str(start_ms + filled), "last_fill_price": "1.5",
                    "last_fill_count": "1"}
    return spelled


def burst_rows(orders: int, pushes: int, symbol: str, start_ms: int) -> list[dict[str, str]]:
    """The rows of `burst.burst_pushes` with these arguments, in its order."""
    return [row(push) for push in burst_pushes(orders, pushes, symbol, start_ms)]


def frame(rows: list[dict[str, str]], compress: bool) -> str | bytes:
    text = json.dumps({"table": protocol.ORDER_TABLE, "data": rows}, separators=(",", ":"))
    return protocol.deflate(text.encode()) if compress else text
