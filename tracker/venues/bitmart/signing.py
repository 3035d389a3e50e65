"""BitMart's signing recipes, shared by the tracker's clients and the simulator.

Both sides must compute byte-identical strings, so each recipe lives here exactly once.
Every function is pure and is checked against the published test vectors.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlencode

WS_LOGIN_PAYLOAD = "bitmart.WebSocket"


def _hmac_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def v2_client_secret(api_key: str, api_secret: str, memo: str) -> str:
    """`client_secret` for `POST /v2/authentication`: HMAC over `key:secret:memo`."""
    return _hmac_hex(api_secret, f"{api_key}:{api_secret}:{memo}")


def v2_signature_payload(params: Mapping[str, object]) -> str:
    """The v2 `X-BM-SIGNATURE` message: parameters sorted by key, form-encoded."""
    return urlencode(sorted((k, str(v)) for k, v in params.items()))


def v2_signature(api_secret: str, params: Mapping[str, object]) -> str:
    return _hmac_hex(api_secret, v2_signature_payload(params))


def v4_sign(api_secret: str, memo: str, timestamp: str, payload: str) -> str:
    """`X-BM-SIGN`: HMAC over `timestamp#memo#payload` (payload = exact body bytes)."""
    return _hmac_hex(api_secret, f"{timestamp}#{memo}#{payload}")


def ws_login_sign(api_secret: str, memo: str, timestamp: str) -> str:
    """The private WebSocket login signature: the v4 recipe over a fixed payload."""
    return v4_sign(api_secret, memo, timestamp, WS_LOGIN_PAYLOAD)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
