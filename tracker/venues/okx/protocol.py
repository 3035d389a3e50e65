"""The OKX (API v5, spot) facts that both the tracker and its simulator speak: hosts, paths
and their rate limits, header names, error codes by meaning, order states, the private
WebSocket's operations, events and keep-alive, and the book's order id.

One copy keeps the two sides honest with each other (as Binance's and BitMart's `protocol`
do): a fact restated in the daemon and again in the simulator could drift on one side only.
Standard library only, so the simulator imports it without importing the daemon. Every
fact is cited in docs/okx.md; [OKX] is https://www.okx.com/docs-v5/en/ by anchor, [OKX-BP]
its "Best practice" guide, as ../shared/venues.md section 2 quotes them (the few it does not
quote, docs/okx.md names with their copies).
"""

from __future__ import annotations

import re
from typing import Any

# -- hosts ([OKX] #overview-production-trading-services, #overview-demo-trading-services) --

# The docs (2026-07) name `openapi.okx.com`; the official SDK and ccxt still use
# `https://www.okx.com`, which serves the same API.
REST_URL = "https://openapi.okx.com"
WS_PRIVATE_URL = "wss://ws.okx.com:8443/ws/v5/private"
# Demo trading: the same REST host with the header below, and a WebSocket host of its own.
DEMO_REST_URL = REST_URL
DEMO_WS_PRIVATE_URL = "wss://wspap.okx.com:8443/ws/v5/private"
SIMULATED_HEADER = "x-simulated-trading"
# python-okx sends the header on every request, "0" live and "1" demo (okx/utils.py
# `get_header`): a face takes both.
DEMO_FLAG, LIVE_FLAG = "1", "0"

# -- REST paths ----------------------------------------------------------------------------

ORDERS_PENDING = "/api/v5/trade/orders-pending"  # GET: the seed, newest first, 100 a page
ORDER = "/api/v5/trade/order"  # GET: one order's detail; POST: place
AMEND_ORDER = "/api/v5/trade/amend-order"  # POST: newSz / newPx, same ordId
CANCEL_ORDER = "/api/v5/trade/cancel-order"  # POST
TIME = "/api/v5/public/time"  # GET: {"ts": "<ms>"}
INSTRUMENTS = "/api/v5/public/instruments"  # GET ?instType=SPOT: instId, baseCcy, quoteCcy

SPOT = "SPOT"  # the only instType the tracker reads (MARGIN orders are out: docs/okx.md)
PAGE_MAX = 100  # `limit` of orders-pending: at most and by default 100
# Paging: `after=<ordId>` gives the orders older than that one (exclusive) ([OKX-BP]
# "Pagination"); a page shorter than asked for is the last.
AFTER = "after"

# -- rate limits: (requests, per seconds), and whom they count -----------------------------

RATE_WINDOW_S = 2.0
ORDERS_PENDING_RATE = 60  # per User ID
ORDER_RATE = 60  # detail, and place, amend, cancel: per User ID + Instrument ID
TIME_RATE = 10  # per IP
INSTRUMENTS_RATE = 20  # per IP + instType
HTTP_TOO_MANY = 429  # 50011 comes with HTTP 200 or 429, 50013 with 429

# -- headers ([OKX] #overview-rest-authentication) -----------------------------------------

ACCESS_KEY = "OK-ACCESS-KEY"
ACCESS_SIGN = "OK-ACCESS-SIGN"
ACCESS_TIMESTAMP = "OK-ACCESS-TIMESTAMP"  # ISO 8601 UTC with milliseconds
ACCESS_PASSPHRASE = "OK-ACCESS-PASSPHRASE"
CLOCK_TOLERANCE_S = 30  # a request this far off the server's clock is refused (50102)

# -- REST error codes ([OKX] #error-code-rest-api-public): strings on the wire --------------

SUCCESS = "0"
SERVICE_UNAVAILABLE = "50001"  # HTTP 503
ENDPOINT_TIMEOUT = "50004"  # outcome unknown
RATE_LIMITED = "50011"
BUSY = "50013"  # "Systems are busy", HTTP 429
API_FROZEN = "50100"
KEY_ENVIRONMENT = "50101"  # "APIKey does not match current environment" (demo key on live)
TIMESTAMP_EXPIRED = "50102"  # more than 30 s off the server's clock
INVALID_SIGNATURE = "50113"
INSTRUMENT_UNKNOWN = "51001"  # "Instrument ID ... doesn't exist."
ID_REQUIRED = "51003"  # "Either client order ID or order ID is required."
ORDER_NOT_FOUND = "51603"  # "Order does not exist." (HTTP 200; also an aged-out cancel?)
# 50103-50107 a header missing or the passphrase wrong, 50108/50109 exchange id or domain,
# 50110 IP not allowed, 50111 key, 50112 timestamp spelling, 50113 signature, 50114
# authorization, 50119 no such key, 50120 no permission: no retry soon can fix these.
CREDENTIAL_CODES = frozenset({API_FROZEN, KEY_ENVIRONMENT, *map(str, range(50103, 50115)),
                              "50119", "50120"})
CLOCK_CODES = frozenset({TIMESTAMP_EXPIRED})
LIMIT_CODES = frozenset({RATE_LIMITED, BUSY})

# The messages OKX writes beside the codes a face answers with, as the error-code pages
# and examples give them.
MESSAGES = {
    RATE_LIMITED: "Rate limit reached. Please refer to API documentation and throttle "
                  "requests accordingly.",
    BUSY: "Systems are busy. Please try again later.",
    KEY_ENVIRONMENT: "APIKey does not match current environment.",
    TIMESTAMP_EXPIRED: "Timestamp request expired.",
    "50105": 'Request header "OK-ACCESS-PASSPHRASE" incorrect.',
    "50111": "Invalid OK-ACCESS-KEY.",
    INVALID_SIGNATURE: "Invalid signature.",
    INSTRUMENT_UNKNOWN: "Instrument ID, Instrument ID code or Spread ID doesn't exist.",
    ID_REQUIRED: "Either client order ID or order ID is required.",
    ORDER_NOT_FOUND: "Order does not exist.",
}

# -- orders ([OKX] #order-book-trading-trade-get-order-details, ...-ws-order-channel) ------

OPEN_STATES = ("live", "partially_filled")
TERMINAL_STATES = ("filled", "canceled", "mmp_canceled")
STATES = OPEN_STATES + TERMINAL_STATES
SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc", "mmp",
               "mmp_and_post_only", "op_fok", "elp")
# An ordId is a decimal number (19 digits today); a clOrdId "a combination of
# case-sensitive alphanumerics, all numbers, or all letters of up to 32 characters"
# ([OKX] #order-book-trading-trade-post-place-order).
ORDER_ID = re.compile(r"[0-9]{1,30}")
CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9]{1,32}")
# An instrument as OKX writes it: BASE-QUOTE in capitals and digits (`BTC-USDT`), derivatives
# with a third part (`BTC-USDT-SWAP`), which a spot book never holds.
INSTRUMENT = re.compile(r"([A-Z0-9]{1,20})-([A-Z0-9]{1,20})")

# -- the private WebSocket ([OKX] #overview-websocket-*) ------------------------------------

LOGIN, SUBSCRIBE, UNSUBSCRIBE = "login", "subscribe", "unsubscribe"  # `op`s, and ack `event`s
ERROR = "error"  # `event` of a refusal
NOTICE = "notice"  # `event` of a notice (64008)
CONN_COUNT = "channel-conn-count"  # informs of the channel's connections: harmless
CONN_COUNT_ERROR = "channel-conn-count-error"  # past 30: the subscription is terminated
ORDERS_CHANNEL = "orders"
WS_LOGIN_METHOD, WS_LOGIN_PATH = "GET", "/users/self/verify"  # the signed login message
WS_LOGIN_EXPIRES_S = 30  # a login's timestamp (seconds) is good for 30 s
PING, PONG = "ping", "pong"  # keep-alive as text frames
IDLE_CUT_S = 30.0  # no data for this long and OKX drops the connection (close code 4004)
CONNECTS_PER_S = 3  # per IP
OPS_PER_HOUR = 480  # login, subscribe and unsubscribe requests per connection
CONNECTIONS_PER_CHANNEL = 30  # per channel per sub-account (then CONN_COUNT_ERROR)
NOTICE_LEAD_S = 60  # 64008 comes this long before a service upgrade closes the connection

WS_INVALID_TIMESTAMP = "60004"
WS_INVALID_KEY = "60005"
WS_TIMESTAMP_EXPIRED = "60006"
WS_INVALID_SIGN = "60007"
WS_LOGIN_FAILED = "60009"
WS_PLEASE_LOG_IN = "60011"
WS_INVALID_REQUEST = "60012"
WS_TOO_FREQUENT = "60014"
WS_WRONG_PASSPHRASE = "60024"
WS_KEY_UNKNOWN = "60032"
WS_UPGRADE_NOTICE = "64008"
# A login refused for the key, the passphrase or the signature: no reconnect soon can fix it.
WS_CREDENTIAL_CODES = frozenset({WS_INVALID_KEY, WS_INVALID_SIGN, WS_LOGIN_FAILED,
                                 WS_WRONG_PASSPHRASE, WS_KEY_UNKNOWN})
WS_CLOCK_CODES = frozenset({WS_INVALID_TIMESTAMP, WS_TIMESTAMP_EXPIRED})
WS_MESSAGES = {
    WS_LOGIN_FAILED: "Login failed.",
    WS_PLEASE_LOG_IN: "Please log in",
    WS_UPGRADE_NOTICE: "The connection will soon be closed for a service upgrade. Please "
                       "reconnect.",
}
# WebSocket close codes ([OKX] #error-code-websocket-public).
CLOSE_LOGIN_FAILED = 4001
CLOSE_NO_DATA = 4004  # "No data received in 30s"
CLOSE_KEY_CHANGED = 4007  # the API key was updated or deleted


def login_request(api_key: str, passphrase: str, timestamp: str, sign: str) -> dict[str, Any]:
    """The login message; `sign` is `signing.ws_login_sign` of the same timestamp."""
    return {"op": LOGIN, "args": [{"apiKey": api_key, "passphrase": passphrase,
                                   "timestamp": timestamp, "sign": sign}]}


def subscribe_request(request_id: str | None = None, op: str = SUBSCRIBE) -> dict[str, Any]:
    """The (un)subscribe message of the `orders` channel for every spot instrument: one
    subscription covers the account; other instruments' pushes are dropped on arrival."""
    message: dict[str, Any] = {"op": op,
                               "args": [{"channel": ORDERS_CHANNEL, "instType": SPOT}]}
    if request_id is not None:
        message["id"] = request_id
    return message


def book_order_id(ord_id: str) -> str:
    """The book's id of an OKX order: its ordId as is (ordIds are unique per account)."""
    return ord_id


def instrument_parts(inst_id: str) -> tuple[str, str] | None:
    """(base, quote) of a spot instrument as OKX writes it, None for anything else."""
    match = INSTRUMENT.fullmatch(inst_id)
    return (match[1], match[2]) if match else None
