"""The Binance Spot facts that both the tracker and its simulator speak: paths and their
weights, order states, execution types, error codes by meaning, header names, and the
WebSocket API's methods and events.

One copy keeps the two sides honest with each other (as BitMart's `protocol` does): a fact
restated in the daemon and again in the simulator could drift on one side only. Standard
library only, so the simulator imports it without importing the daemon. [BN] refers to
binance/binance-spot-api-docs as cited in docs/binance.md.
"""

from __future__ import annotations

from typing import Any

# -- hosts ([BN] rest-api.md, web-socket-api.md "General API Information") ---------------

REST_URL = "https://api.binance.com"
WS_API_URL = "wss://ws-api.binance.com:443/ws-api/v3"
# Ways to try it without funds: demo mode (2026-01-29) and the testnet (wiped now and then).
DEMO_REST_URL, DEMO_WS_API_URL = ("https://demo-api.binance.com",
                                  "wss://demo-ws-api.binance.com/ws-api/v3")
TESTNET_REST_URL, TESTNET_WS_API_URL = ("https://testnet.binance.vision",
                                        "wss://ws-api.testnet.binance.vision/ws-api/v3")

# -- REST paths and their request weights ([BN] rest-api.md) ------------------------------

OPEN_ORDERS = "/api/v3/openOrders"  # GET: every open order, one unpaginated answer
ORDER = "/api/v3/order"  # GET: one order; POST: place; DELETE: cancel
CANCEL_REPLACE = "/api/v3/order/cancelReplace"
AMEND_KEEP_PRIORITY = "/api/v3/order/amend/keepPriority"  # PUT: reduce quantity in place
TIME = "/api/v3/time"
EXCHANGE_INFO = "/api/v3/exchangeInfo"

OPEN_ORDERS_WEIGHT_SYMBOL = 6  # one symbol
OPEN_ORDERS_WEIGHT_ALL = 80  # every symbol: "careful when accessing this with no symbol"
ORDER_WEIGHT = 4  # query order
AMEND_WEIGHT = 4
TIME_WEIGHT = 1
# Place, cancel and cancel-replace weigh 1 each ([BN] rest-api.md "New order", "Cancel
# order", "Cancel an Existing Order and Send a New Order"); since 2026-04-02 a successful
# one costs 0 (CHANGELOG 2026-03-27), a refused one still 1.
ORDER_ACTION_WEIGHT = 1
EXCHANGE_INFO_WEIGHT = 20
WS_CONNECT_WEIGHT = 2  # opening a WebSocket API connection
WS_REQUEST_WEIGHT = 2  # session.logon, userDataStream.subscribe(.signature), ...
# The documented REQUEST_WEIGHT limit per IP (exchangeInfo's rateLimits are authoritative).
WEIGHT_PER_MINUTE = 6000
# exchangeInfo's documented limits beside it ([BN] enums.md "Rate limiters", CHANGELOG
# 2026-03-27 for RAW_REQUESTS): (rateLimitType, interval, intervalNum, limit).
OTHER_RATE_LIMITS = (("ORDERS", "SECOND", 10, 50), ("ORDERS", "DAY", 1, 160000),
                     ("RAW_REQUESTS", "MINUTE", 5, 300000))

USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
API_KEY_HEADER = "X-MBX-APIKEY"
RETRY_AFTER = "Retry-After"  # seconds, on 429 and 418
HTTP_RATE_LIMITED = 429
HTTP_BANNED = 418  # auto-ban after ignoring 429s: 2 minutes to 3 days

RECV_WINDOW_MS = 5000  # the venue's default; at most 60000
RECV_WINDOW_MAX_MS = 60000
FUTURE_TOLERANCE_MS = 1000  # a timestamp this far ahead of the server is refused

# -- error codes ([BN] errors.md) ----------------------------------------------------------

UNAUTHORIZED = -1002  # "You are not authorized to execute this request."
TOO_MANY_REQUESTS = -1003
TIMEOUT = -1007  # execution status unknown
SERVER_BUSY = -1008
INVALID_TIMESTAMP = -1021
INVALID_SIGNATURE = -1022
UNSUPPORTED_OPERATION = -1020
ILLEGAL_CHARS = -1100
MANDATORY_PARAM = -1102
BAD_RECV_WINDOW = -1131  # "recvWindow must be less than 60000"
BAD_SYMBOL = -1121
NEW_ORDER_REJECTED = -2010
CANCEL_REJECTED = -2011  # "Unknown order sent." (cancelling an order that is not open)
CANCEL_REPLACE_PARTIAL = -2021  # "Order cancel-replace partially failed." (HTTP 409)
CANCEL_REPLACE_FAILED = -2022  # "Order cancel-replace failed."
NO_SUCH_ORDER = -2013  # "Order does not exist." (may be transient for a very new order)
REJECTED_MBX_KEY = -2015  # "Invalid API-key, IP, or permissions for action."
ARCHIVED = -2026  # canceled or expired with nothing filled, over 90 days ago, archived
SUBSCRIPTION_ACTIVE = -2035
SUBSCRIPTION_INACTIVE = -2036
CREDENTIAL_CODES = frozenset({INVALID_SIGNATURE, REJECTED_MBX_KEY})
CLOCK_CODES = frozenset({INVALID_TIMESTAMP})
NOT_FOUND_CODES = frozenset({NO_SUCH_ORDER, ARCHIVED})

# -- orders ([BN] enums.md) ----------------------------------------------------------------

# Order `status` (`X` in an executionReport) to the book's states. CANCELED and the two
# EXPIRED read as canceled, or partially_canceled once something filled (decided by the
# codec); PENDING_CANCEL is "currently unused" and read as still open.
OPEN_STATUS = frozenset({"NEW", "PENDING_NEW", "PARTIALLY_FILLED", "PENDING_CANCEL"})
ENDED_STATUS = frozenset({"CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"})
STATUS = ("NEW", "PENDING_NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "PENDING_CANCEL",
          "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH")
EXECUTION_TYPES = ("NEW", "CANCELED", "REPLACED", "REJECTED", "TRADE", "EXPIRED",
                   "TRADE_PREVENTION")
ORDER_TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
SIDES = ("BUY", "SELL")
# What a client order id may be ([BN] rest-api.md, newClientOrderId and the "clientOrderId"
# parameters): 1 to 36 of these characters.
CLIENT_ORDER_ID = r"[.A-Z:/a-z0-9_-]{1,36}"
# What a DECIMAL parameter (price, quantity, newQty, quoteOrderQty) may be: digits, and
# decimals after a point; no sign, no exponent. [BN] does not say so; Binance refuses `3e-06`
# with -1100 and this pattern, as users of several clients report
# (github.com/whittlem/pycryptobot/issues/84, github.com/sammchardy/python-binance/issues/255).
DECIMAL = r"([0-9]{1,20})(\.[0-9]{1,20})?"
NO_ORDER_LIST = -1  # `orderListId` / `g` of an order outside any list

# -- the WebSocket API ([BN] web-socket-api.md, user-data-stream.md) -----------------------

SESSION_LOGON = "session.logon"  # Ed25519 keys only
SUBSCRIBE = "userDataStream.subscribe"  # after session.logon
SUBSCRIBE_SIGNATURE = "userDataStream.subscribe.signature"  # any key type, no logon
UNSUBSCRIBE = "userDataStream.unsubscribe"
SUBSCRIPTIONS = "session.subscriptions"

EXECUTION_REPORT = "executionReport"
LIST_STATUS = "listStatus"
SERVER_SHUTDOWN = "serverShutdown"  # the server will close this connection soon
STREAM_TERMINATED = "eventStreamTerminated"  # the subscription ended; the socket stays
# Events on the stream that say nothing of an order's state.
BALANCE_EVENTS = frozenset({"outboundAccountPosition", "balanceUpdate", "externalLockUpdate"})

MAX_CONNECTION_AGE_S = 24 * 3600.0  # the server cuts a connection after 24 hours
SERVER_PING_S = 20.0  # it pings every 20 s
PONG_WITHIN_S = 60.0  # and cuts a connection that has not answered for a minute


def request(request_id: str, method: str, params: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    """A WebSocket API request frame."""
    frame: dict[str, Any] = {"id": request_id, "method": method}
    if params is not None:
        frame["params"] = params
    return frame


def book_order_id(symbol: str, order_id: int | str) -> str:
    """The book's id of a Binance order: its `orderId` is unique within its symbol only."""
    return f"{symbol}:{order_id}"


def split_order_id(book_id: str) -> tuple[str, str]:
    """(symbol, orderId) of a book's id."""
    symbol, _, order_id = book_id.rpartition(":")
    return symbol, order_id
