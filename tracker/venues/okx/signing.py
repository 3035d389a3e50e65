"""OKX's signing recipes, shared by the tracker's clients and the simulator: the REST
signature and the private WebSocket's login signature ([OKX] #overview-rest-authentication,
#overview-websocket-login, as docs/okx.md cites them).

Both sides must compute byte-identical strings, so each recipe lives here once. Both are
`Base64(HMAC-SHA256(secret, prehash))`; they differ in the prehash and in the timestamp's
unit: an ISO 8601 time with milliseconds for REST, Unix seconds for the login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from tracker.venues.okx.protocol import WS_LOGIN_METHOD, WS_LOGIN_PATH


def sign(secret: str, prehash: str) -> str:
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def iso_timestamp(epoch_ms: int) -> str:
    """`OK-ACCESS-TIMESTAMP`: UTC, milliseconds, a `Z`: `2020-12-08T09:08:57.715Z`."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


def rest_prehash(timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """timestamp + METHOD + requestPath + body. A GET's query string is part of the
    requestPath (`/api/v5/trade/orders-pending?instType=SPOT`), its body empty; a POST
    signs its JSON body exactly as sent."""
    return f"{timestamp}{method.upper()}{request_path}{body}"


def rest_sign(secret: str, timestamp: str, method: str, request_path: str,
              body: str = "") -> str:
    """`OK-ACCESS-SIGN` of one request."""
    return sign(secret, rest_prehash(timestamp, method, request_path, body))


def ws_login_sign(secret: str, timestamp: str) -> str:
    """The login's `sign`: the REST recipe over `timestamp + "GET" + "/users/self/verify"`,
    the timestamp in Unix seconds."""
    return rest_sign(secret, timestamp, WS_LOGIN_METHOD, WS_LOGIN_PATH)


def verify(secret: str, prehash: str, signature: str) -> bool:
    """Whether `signature` signs `prehash` under `secret` (the simulator's side)."""
    return hmac.compare_digest(sign(secret, prehash).encode(), signature.encode())
