"""OKX's spelling of the benchmarks' load (`simulator.burst`): one `orders` push per
load push, as the private WebSocket sends them."""

from __future__ import annotations

import json

from simulator.burst import LoadPush
from tracker.venues.okx import protocol

STATE = {"new": "live", "partially_filled": "partially_filled", "filled": "filled"}
LOAD_UID = "100000000000000"


def frame(push: LoadPush) -> str:
    """A buy limit order at price 1.5, `filled` units filled (one a millisecond)."""
    order_id, symbol, state, filled, size, start_ms = push
    instrument = symbol.replace("_", "-")
    element = {
        "instType": protocol.SPOT, "instId": instrument, "ordId": str(order_id),
        "clOrdId": f"load{order_id}", "tag": "", "px": "1.5", "sz": str(size),
        "ordType": "limit", "side": "buy", "posSide": "net", "tdMode": "cash",
        "tgtCcy": "", "accFillSz": str(filled), "fillSz": "1" if filled else "0",
        "fillPx": "1.5" if filled else "", "tradeId": str(start_ms + filled) if filled else "",
        "fillTime": str(start_ms + filled) if filled else "",
        "avgPx": "1.5" if filled else "0", "state": STATE[state], "cTime": str(start_ms),
        "uTime": str(start_ms + filled), "fee": "0", "feeCcy": symbol.split("_")[1],
        "execType": "M" if filled else "", "reqId": "", "amendResult": "", "cancelSource": "",
        "category": "normal", "code": "0", "msg": "",
    }
    return json.dumps({"arg": {"channel": protocol.ORDERS_CHANNEL, "instType": protocol.SPOT,
                               "uid": LOAD_UID}, "data": [element]}, separators=(",", ":"))
