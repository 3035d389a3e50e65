"""Binance's spelling of the benchmarks' load (`simulator.burst`): one executionReport
event frame per push, as the WebSocket API sends a subscription's events."""

from __future__ import annotations

import json

from simulator.burst import LoadPush
from tracker.venues.binance import protocol

STATUS = {"new": "NEW", "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED"}


def event(push: LoadPush) -> dict[str, object]:
    """A buy limit order at price 1.5, `filled` units filled (one a millisecond). A trade
    names its commission asset (`N`, the base asset of a buy) as Binance's do, though the
    commission is 0: ccxt.pro reads a trade's fee by it."""
    order_id, symbol, state, filled, size, start_ms = push
    quote = f"{filled * 3 // 2}.{5 if filled % 2 else 0}"
    return {
        "e": protocol.EXECUTION_REPORT, "E": start_ms + filled, "s": symbol.replace("_", ""),
        "c": f"load{order_id}", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": str(size),
        "p": "1.5", "P": "0", "F": "0", "g": protocol.NO_ORDER_LIST, "C": "",
        "x": "TRADE" if filled else "NEW", "X": STATUS[state], "r": "NONE", "i": order_id,
        "l": "1" if filled else "0", "z": str(filled), "L": "1.5" if filled else "0",
        "n": "0", "N": symbol.split("_")[0] if filled else None, "T": start_ms + filled,
        "t": -1, "I": start_ms + filled,
        "w": state != "filled", "m": bool(filled), "M": False, "O": start_ms, "Z": quote,
        "Y": "1.5" if filled else "0", "Q": "0", "W": start_ms, "V": "EXPIRE_MAKER",
    }


def frame(push: LoadPush) -> str:
    return json.dumps({"subscriptionId": 0, "event": event(push)}, separators=(",", ":"))
