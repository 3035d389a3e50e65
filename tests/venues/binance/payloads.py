"""Binance payloads as the docs and captures of each era show them (docs/binance.md,
"Payloads"), shared by the codec, merge and frame tests."""

from __future__ import annotations

from typing import Any

# [BN] rest-api.md "Current open orders", the documented row (plus a later updateTime).
REST_ROW: dict[str, Any] = {
    "symbol": "LTCBTC", "orderId": 1, "orderListId": -1, "clientOrderId": "myOrder1",
    "price": "0.1", "origQty": "1.0", "executedQty": "0.0", "cummulativeQuoteQty": "0.0",
    "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY",
    "stopPrice": "0.0", "icebergQty": "0.0", "time": 1499827319559,
    "updateTime": 1499827319559, "isWorking": True, "origQuoteOrderQty": "0.000000",
    "workingTime": 1499827319559, "selfTradePreventionMode": "NONE"}

# 2026: the WebSocket API's event as [BN] user-data-stream.md documents it (with `v`
# only on STP expiries, so left out here), inside its `{"subscriptionId", "event"}`.
EVENT_2026: dict[str, Any] = {
    "e": "executionReport", "E": 1499405658658, "s": "ETHBTC", "c": "mUvoqJxFIILMdfAW5iGSOW",
    "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "1.00000000", "p": "0.10264410",
    "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "", "x": "NEW", "X": "NEW",
    "r": "NONE", "i": 4293153, "l": "0.00000000", "z": "0.00000000", "L": "0.00000000",
    "n": "0", "N": None, "T": 1499405658657, "t": -1, "I": 8641984, "w": True, "m": False,
    "M": False, "O": 1499405658657, "Z": "0.00000000", "Y": "0.00000000",
    "Q": "0.00000000", "W": 1499405658657, "V": "NONE"}

# 2023: as captured then (docs/binance.md): `W` and `V` present, no `eR`, a web client id.
EVENT_2023: dict[str, Any] = {
    "e": "executionReport", "E": 1690000000123, "s": "BTCUSDT", "c": "web_7f1c2d3e4f",
    "S": "SELL", "o": "LIMIT", "f": "GTC", "q": "0.00100000", "p": "29500.00000000",
    "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "", "x": "NEW", "X": "NEW",
    "r": "NONE", "i": 21548813377, "l": "0.00000000", "z": "0.00000000",
    "L": "0.00000000", "n": "0", "N": None, "T": 1690000000120, "t": -1,
    "I": 44650395066, "w": True, "m": False, "M": False, "O": 1690000000120,
    "Z": "0.00000000", "Y": "0.00000000", "Q": "0.00000000", "W": 1690000000120,
    "V": "EXPIRE_MAKER"}

# 2018: bare, without Y/Q/W/V, with `"O": -1` and a negative `Z` (captured then).
EVENT_2018: dict[str, Any] = {
    "e": "executionReport", "E": 1520000000500, "s": "ETHBTC", "c": "and_4b1f6f1c0f2d",
    "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "2.00000000", "p": "0.08000000",
    "P": "0.00000000", "F": "0.00000000", "g": -1, "C": "null", "x": "TRADE",
    "X": "PARTIALLY_FILLED", "r": "NONE", "i": 81234567, "l": "0.50000000",
    "z": "0.50000000", "L": "0.08000000", "n": "0.00050000", "N": "BNB",
    "T": 1520000000498, "t": 31234567, "I": 190000001, "w": True, "m": True, "M": True,
    "O": -1, "Z": "-1.00000000"}


def event(**fields: Any) -> dict[str, Any]:
    return EVENT_2026 | fields
