"""OKX payloads as the docs show them (../shared/venues.md section 2 quotes each, with its
anchor; docs/okx.md), shared by the codec and frame tests. Every value is a string, as OKX
writes them; "none" is `""`."""

from __future__ import annotations

import json
from typing import Any

# [OKX] #order-book-trading-trade-get-order-list: the response example's row, trimmed as
# venues.md 2.2 quotes it. A post-only buy, nothing filled.
SEED_ROW: dict[str, Any] = {
    "instType": "SPOT", "instId": "BTC-USDT", "ordId": "1752588852617379840", "clOrdId": "",
    "px": "13013.5", "sz": "0.001", "ordType": "post_only", "side": "buy", "tdMode": "cash",
    "accFillSz": "0", "fillSz": "0", "fillPx": "", "fillTime": "", "tradeId": "", "avgPx": "",
    "state": "live", "cTime": "1724733617998", "uTime": "1724733617998", "tgtCcy": "",
    "fee": "0", "feeCcy": "BTC", "rebate": "0", "rebateCcy": "USDT",
    "stpMode": "cancel_maker", "source": "", "category": "normal", "cancelSource": "",
    "cancelSourceReason": "", "tradeQuoteCcy": "USDT", "tag": "", "posSide": "net",
    "reduceOnly": "false"}

# [OKX] #order-book-trading-trade-ws-order-channel: the push example's element, trimmed as
# venues.md 2.7 quotes it. A limit sell, filled in one trade.
PUSH_FILLED: dict[str, Any] = {
    "instType": "SPOT", "instId": "BTC-USDT", "ordId": "452197707845865472", "clOrdId": "",
    "px": "31527.1", "sz": "0.001", "side": "sell", "ordType": "limit", "state": "filled",
    "accFillSz": "0.001", "fillSz": "0.001", "fillPx": "31527.1", "tradeId": "242589207",
    "fillTime": "1654084353263", "avgPx": "31527.1", "cTime": "1654084334977",
    "uTime": "1654084353264", "reqId": "", "amendResult": "", "cancelSource": "",
    "code": "0", "msg": ""}

# The same order's life before that fill, as the channel pushes each step (the state
# sequences of [OKX-BP] "Checking order state"): placed (`avgPx` "0" in a push when
# nothing filled, venues.md section 4), half filled, ...
PUSH_LIVE = PUSH_FILLED | {"state": "live", "accFillSz": "0", "fillSz": "0", "fillPx": "",
                           "tradeId": "", "fillTime": "", "avgPx": "0",
                           "uTime": "1654084334977"}
PUSH_PARTIAL = PUSH_FILLED | {"state": "partially_filled", "accFillSz": "0.0004",
                              "fillSz": "0.0004", "tradeId": "242589100",
                              "fillTime": "1654084340000", "uTime": "1654084340001"}
# ... amended to a smaller size ([OKX-BP] "Amending an order": sz changes, ordId and
# accFillSz do not, uTime moves on; amendResult 0 = success), ...
PUSH_AMENDED = PUSH_PARTIAL | {"sz": "0.0008", "reqId": "amend1", "amendResult": "0",
                               "fillSz": "0", "tradeId": "", "uTime": "1654084345000"}
# ... and canceled with that fill (cancelSource 1: by the user).
PUSH_CANCELED_PARTLY = PUSH_AMENDED | {"state": "canceled", "cancelSource": "1",
                                       "reqId": "", "amendResult": "",
                                       "uTime": "1654084350000"}
# An order canceled with nothing filled; one canceled by market maker protection.
PUSH_CANCELED = PUSH_LIVE | {"state": "canceled", "cancelSource": "1",
                             "uTime": "1654084350000"}
PUSH_MMP_CANCELED = PUSH_LIVE | {"state": "mmp_canceled", "cancelSource": "39",
                                 "uTime": "1654084350000"}
# A market buy sized in the quote currency (the default for a buy: [OKX]
# #order-book-trading-trade-post-place-order, tgtCcy): sz 100 USDT, 0.00317 BTC filled;
# a market order has no price (`px` "").
PUSH_MARKET_BUY = PUSH_FILLED | {"side": "buy", "ordType": "market", "px": "", "sz": "100",
                                 "tgtCcy": "", "accFillSz": "0.00317", "fillSz": "0.00317",
                                 "avgPx": "31527.1"}

# [OKX] #order-book-trading-trade-ws-order-channel: the push envelope (venues.md 2.6).
ARG = {"channel": "orders", "instType": "SPOT", "instId": "BTC-USDT",
       "uid": "614488474791936"}


def push_frame(*elements: dict[str, Any], arg: dict[str, Any] | None = None) -> str:
    return json.dumps({"arg": ARG if arg is None else arg, "data": list(elements)})


# [OKX] #order-book-trading-trade-get-order-details: an answer, and the one for an order
# OKX does not know (venues.md 2.3).
DETAIL_ANSWER = {"code": "0", "msg": "", "data": [PUSH_FILLED | {"avgPx": "31527.1"}]}
NOT_FOUND_ANSWER = {"code": "51603", "msg": "Order does not exist.", "data": []}

# [OKX] #overview-websocket-login, #order-book-trading-trade-ws-order-channel,
# #overview-websocket-connection-count-limit, #overview-websocket-notification (venues.md
# 2.6): the events of the private connection.
LOGIN_ACK = {"event": "login", "code": "0", "msg": "", "connId": "a4d3ae55"}
LOGIN_FAILED = {"event": "error", "code": "60009", "msg": "Login failed.",
                "connId": "a4d3ae55"}
PLEASE_LOG_IN = {"event": "error", "code": "60011", "msg": "Please log in",
                 "connId": "a4d3ae55"}
SUBSCRIBE_ACK = {"id": "1512", "event": "subscribe",
                 "arg": {"channel": "orders", "instType": "SPOT"}, "connId": "a4d3ae55"}
SUBSCRIBE_ERROR = {"id": "1512", "event": "error", "code": "60012",
                   "msg": "Invalid request: {...}", "connId": "a4d3ae55"}  # msg trimmed
CONN_COUNT = {"event": "channel-conn-count", "channel": "orders", "connCount": "2",
              "connId": "abcd1234"}
# Only its `event` is quoted; its other fields are taken to be the count event's.
CONN_COUNT_ERROR = {"event": "channel-conn-count-error", "channel": "orders",
                    "connCount": "30", "connId": "a4d3ae55"}
UPGRADE_NOTICE = {"event": "notice", "code": "64008",
                  "msg": "The connection will soon be closed for a service upgrade. Please "
                         "reconnect.", "connId": "a4d3ae55"}
