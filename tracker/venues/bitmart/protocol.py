"""The BitMart facts that both the tracker and its simulator speak: topics and tables, order
states and their codes, error codes by meaning, header names, and the frame compression.

One copy keeps the two sides honest with each other: a fact restated in the daemon and again
in the simulator can drift on one side only, and then the simulator would agree with a
tracker that the real exchange refuses. Standard library only, so the simulator can import
it without importing the daemon. Sections refer to ../shared/bitmart-protocol.md.
"""

from __future__ import annotations

import zlib
from typing import Any

# -- order states (§2.6, §6) -------------------------------------------------------------

# BitMart's current vocabulary (v4 `state`, push `order_state`), the one the book keeps.
STATES = ("new", "partially_filled", "filled", "canceled", "partially_canceled", "failed")
OPEN_STATES = frozenset({"new", "partially_filled"})
TERMINAL_STATES = frozenset(STATES) - OPEN_STATES

# v2 list/detail `status` (§1.5). 4 is canceled with or without fills: v2 has no word for
# partially_canceled or failed, so those read back as 4 and the reader tells them apart by
# the executed amount.
V2_STATUS = {1: "new", 2: "partially_filled", 3: "filled", 4: "canceled"}
V2_STATUS_CODE = {state: code for code, state in V2_STATUS.items()} | {
    "partially_canceled": 4, "failed": 4}
# The v2 list's `status` filter that asks for the orders still open (new or partially
# filled): what the seed reads (§1.5).
V2_LIST_OPEN = 5

# The legacy numeric push `state` (§1.10, §3.4), still sent beside `order_state`. Several
# codes share a meaning; 7 "canceling" is still open, so it names no final state (None).
LEGACY_STATE: dict[str, str | None] = {
    "1": "failed", "2": "new", "3": "failed", "4": "new", "5": "partially_filled",
    "6": "filled", "7": None, "8": "canceled", "12": "partially_canceled"}
# What the exchange sends for each state; `failed` it does not push, "1" is its nearest.
LEGACY_STATE_CODE = {"new": "4", "partially_filled": "5", "filled": "6", "canceled": "8",
                     "partially_canceled": "12", "failed": "1"}

# -- the private WebSocket channel (§3) --------------------------------------------------

ORDER_TABLE = "spot/user/order"  # one symbol's pushes; also the channel of its topic
ALL_ORDERS_TABLE = "spot/user/orders"  # the pushes of the every-symbol topic
ALL_SYMBOLS = f"{ALL_ORDERS_TABLE}:ALL_SYMBOLS"
ORDER_TABLES = frozenset({ORDER_TABLE, ALL_ORDERS_TABLE})  # a push names one of these
TOPICS_PER_SUBSCRIBE = 20  # topics in one subscribe `args` (more: 90005, then a close)
TOPICS_PER_CONNECTION = 100  # topics held by one private connection (more: 90006)
PING, PONG = "ping", "pong"  # keep-alive as text frames, not WebSocket ping frames
LOGIN, SUBSCRIBE, UNSUBSCRIBE = "login", "subscribe", "unsubscribe"


def order_topic(symbol: str) -> str:
    return f"{ORDER_TABLE}:{symbol}"


def login_request(api_key: str, timestamp: str, sign: str) -> dict[str, Any]:
    """The login message; `sign` is `signing.ws_login_sign` of the same timestamp."""
    return {"op": LOGIN, "args": [api_key, timestamp, sign]}


def subscribe_request(topics: list[str], op: str = SUBSCRIBE) -> dict[str, Any]:
    """A subscribe (or unsubscribe) message; the exchange acks each topic on its own."""
    return {"op": op, "args": list(topics)}


# WebSocket `errorCode`s (§3.7), strings on the wire.
WS_KEY_EMPTY = "91001"
WS_KEY_UNKNOWN = "91002"
WS_KEY_FROZEN = "91003"
WS_KEY_EXPIRED = "91004"
WS_SIGN_EMPTY = "91010"
WS_SIGN_WRONG = "91011"
WS_TIMESTAMP_RANGE = "91022"  # login timestamp more than a minute off the server's clock
WS_TOO_MANY_TOPICS_PER_SUBSCRIBE = "90005"
WS_TOO_MANY_TOPICS = "90006"
WS_SUBSCRIBE_RATE = "90007"
WS_RECONNECTS_TOO_OFTEN = "94001"
WS_TOO_MANY_CONNECTIONS = "94002"
# Login refusals that a retry cannot fix: wrong, frozen or expired key, bad signature.
WS_CREDENTIAL_CODES = frozenset({WS_KEY_EMPTY, WS_KEY_UNKNOWN, WS_KEY_FROZEN, WS_KEY_EXPIRED,
                                 WS_SIGN_EMPTY, WS_SIGN_WRONG})
# Refused for our clock, not the key: measure the skew again before retrying.
WS_CLOCK_CODES = frozenset({WS_TIMESTAMP_RANGE})
# Too many connections or messages from this IP or key: back off, as for a 429.
WS_LIMIT_CODES = frozenset({WS_RECONNECTS_TOO_OFTEN, WS_TOO_MANY_CONNECTIONS,
                            WS_SUBSCRIBE_RATE})

# -- REST (§1, §2) -----------------------------------------------------------------------

# v4 envelope `code`s (§2.9), JSON numbers on the wire.
V4_SUCCESS = 1000
V4_KEY_EMPTY = 30001
V4_KEY_UNKNOWN = 30002
V4_KEY_FROZEN = 30003
V4_SIGN_EMPTY = 30004
V4_SIGN_WRONG = 30005
V4_TIMESTAMP_MISSING = 30006
V4_TIMESTAMP_RANGE = 30007  # outside "within a minute" or recvWindow, or a bad recvWindow
V4_TIMESTAMP_FORMAT = 30008
V4_IP_FORBIDDEN = 30010
V4_KEY_EXPIRED = 30011
V4_KEY_FORBIDDEN = 30012
V4_RATE_LIMITED = 30013  # with HTTP 429
V4_NO_PERMISSION = 30019
V4_ORDER_NOT_FOUND = 50005  # also an unfilled cancel older than about 20 minutes (§2.5)
V4_CREDENTIAL_CODES = frozenset({V4_KEY_EMPTY, V4_KEY_UNKNOWN, V4_KEY_FROZEN, V4_SIGN_EMPTY,
                                 V4_SIGN_WRONG, V4_IP_FORBIDDEN, V4_KEY_EXPIRED,
                                 V4_KEY_FORBIDDEN, V4_NO_PERMISSION})
V4_CLOCK_CODES = frozenset({V4_TIMESTAMP_RANGE, V4_TIMESTAMP_FORMAT})

# The public list of trading pairs, each with its `symbol`, `base_currency` and
# `quote_currency`, in the v4 envelope's `data.symbols`: unsigned, limited per IP. ccxt's
# `load_markets` reads it (docs/protocol-notes.md); the `bitmart-api` SDK types its rows
# (`SpotTradingPairDetailsV1`).
SYMBOLS_DETAILS = "/spot/v1/symbols/details"

# The most rows one page holds: a v2 `GET /v2/orders` `limit`, a v4 open-orders `limit`.
V2_PAGE_MAX = 1000
V4_PAGE_MAX = 200

# Request headers: v4 signs each call; v2 carries a bearer token, and signs writes.
KEY_HEADER = "X-BM-KEY"
SIGN_HEADER = "X-BM-SIGN"
TIMESTAMP_HEADER = "X-BM-TIMESTAMP"
AUTHORIZATION_HEADER = "X-BM-AUTHORIZATION"
SIGNATURE_HEADER = "X-BM-SIGNATURE"
# Rate-limit answer headers (§2.8). Despite its name, Remaining counts the calls USED in
# the window; a client that reads it as "left" stops just as the window opens.
RATE_LIMIT_USED = "X-BM-RateLimit-Remaining"
RATE_LIMIT_LIMIT = "X-BM-RateLimit-Limit"
RATE_LIMIT_RESET = "X-BM-RateLimit-Reset"  # the window, in seconds
RATE_LIMIT_MODE = "X-BM-RateLimit-Mode"

# -- frames ------------------------------------------------------------------------------


def deflate(data: bytes) -> bytes:
    """Raw DEFLATE (no zlib header or checksum), as the exchange compresses its frames."""
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def inflate(frame: bytes, limit: int) -> bytes:
    """A binary frame's content, refused with ValueError if it is not raw DEFLATE or would
    inflate past `limit` bytes: inflating stops at the cap, so a decompression bomb costs
    no more memory than an honest frame."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        data = inflater.decompress(frame, limit)
    except zlib.error as exc:
        raise ValueError(f"binary frame is not raw DEFLATE: {exc}") from None
    if inflater.unconsumed_tail:
        raise ValueError(f"binary frame inflates past {limit} bytes")
    return data
