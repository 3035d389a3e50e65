"""BitMart's credential refusals, each with the setting an operator should look at: the
exchange's own messages ("sign wrong") do not say which."""

from __future__ import annotations

from tracker.venues.bitmart import protocol as p

_SIGNATURE = "check api_secret and api_memo (the signature is made from both)"
_KEY_EMPTY = "the API key is empty: set api_key"
_KEY_UNKNOWN = "the exchange does not know this API key: check api_key"
_KEY_FROZEN = "the API key is frozen: unfreeze it, or use another, on the exchange"
_KEY_EXPIRED = "the API key has expired: create a new one on the exchange"
_SIGN_EMPTY = f"the signature is empty: {_SIGNATURE}"
_SIGN_WRONG = f"the signature is wrong: {_SIGNATURE}"
# Keyed by the code as text: the WebSocket sends strings, v4 REST numbers.
CREDENTIAL_HINTS = {
    # private WebSocket login
    p.WS_KEY_EMPTY: _KEY_EMPTY,
    p.WS_KEY_UNKNOWN: _KEY_UNKNOWN,
    p.WS_KEY_FROZEN: _KEY_FROZEN,
    p.WS_KEY_EXPIRED: _KEY_EXPIRED,
    p.WS_SIGN_EMPTY: _SIGN_EMPTY,
    p.WS_SIGN_WRONG: _SIGN_WRONG,
    # v4 REST
    str(p.V4_KEY_EMPTY): _KEY_EMPTY,
    str(p.V4_KEY_UNKNOWN): _KEY_UNKNOWN,
    str(p.V4_KEY_FROZEN): _KEY_FROZEN,
    str(p.V4_SIGN_EMPTY): _SIGN_EMPTY,
    str(p.V4_SIGN_WRONG): _SIGN_WRONG,
    str(p.V4_IP_FORBIDDEN): "this IP is not on the API key's whitelist: add it on the exchange",
    str(p.V4_KEY_EXPIRED): _KEY_EXPIRED,
    str(p.V4_KEY_FORBIDDEN): "the API key is forbidden: check its status on the exchange",
    str(p.V4_NO_PERMISSION): "the API key lacks a permission this call needs: give it read "
                             "access",
}


def credential_hint(code: object) -> str:
    return CREDENTIAL_HINTS.get(str(code), "check api_key, api_secret and api_memo, and the "
                                           "key's permissions (read) on the exchange")
