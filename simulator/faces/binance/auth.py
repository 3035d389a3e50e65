"""Binance's request security, as its face checks it: the API key, the signature over
the payload exactly as sent (percent-encoded, since 2026-01-15) and the timestamp within
`recvWindow` ([BN] rest-api.md "Request security", "Timing security"; docs/binance.md).

An account with a `public_key` verifies RSA or Ed25519 signatures with it; one without
verifies HMAC signatures with its secret.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from simulator.state import AccountState
from tracker.venues.binance import protocol, signing


class Refused(Exception):
    """A call Binance refuses: the HTTP status (the WebSocket API's `status`), the code
    and the message of its error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def unknown_key() -> Refused:
    return Refused(401, protocol.REJECTED_MBX_KEY,
                   "Invalid API-key, IP, or permissions for action.")


def mandatory(name: str) -> Refused:
    return Refused(400, protocol.MANDATORY_PARAM,
                   f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def verifying_key(account: AccountState) -> str:
    return account.credentials.public_key or account.credentials.secret


def key_type(account: AccountState) -> str:
    """hmac, rsa or ed25519: what the account's key is."""
    pem = account.credentials.public_key
    if not pem:
        return "hmac"
    key = serialization.load_pem_public_key(pem.encode())
    return "ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else \
        "rsa" if isinstance(key, rsa.RSAPublicKey) else "unknown"


def check_signature(account: AccountState, message: str, signature: object) -> None:
    if not isinstance(signature, str) or not signature:
        raise mandatory("signature")
    if not signature.isascii() or not signing.verify(verifying_key(account), message,
                                                     signature):
        raise Refused(400, protocol.INVALID_SIGNATURE, "Signature for this request is not valid.")


def check_time(now_ms: int, params: dict[str, str]) -> None:
    """Refuse a timestamp 1 s or more ahead of the server's clock, or further behind it
    than `recvWindow` (default 5000 ms, at most 60000, up to 3 decimals); a timestamp may
    be in ms or in µs."""
    stamp = str(params.get("timestamp", ""))
    if not (stamp.isascii() and stamp.isdigit()):
        raise mandatory("timestamp")
    timestamp = Decimal(stamp)
    if timestamp >= 10 ** 14:  # microseconds
        timestamp /= 1000
    raw_window = params.get("recvWindow")
    window = Decimal(protocol.RECV_WINDOW_MS)
    if raw_window is not None:
        try:
            window = Decimal(str(raw_window))
        except InvalidOperation:
            raise mandatory("recvWindow") from None
        if not window.is_finite() or window.as_tuple().exponent < -3 \
                or not 0 < window <= protocol.RECV_WINDOW_MAX_MS:
            raise Refused(400, protocol.BAD_RECV_WINDOW,
                          f"recvWindow must be less than {protocol.RECV_WINDOW_MAX_MS}")
    if timestamp >= now_ms + protocol.FUTURE_TOLERANCE_MS:
        raise Refused(400, protocol.INVALID_TIMESTAMP,
                      "Timestamp for this request was 1000ms ahead of the server's time.")
    if now_ms - timestamp > window:
        raise Refused(400, protocol.INVALID_TIMESTAMP,
                      "Timestamp for this request is outside of the recvWindow.")


def rest_payload(raw_query: str, raw_body: str) -> tuple[str, str | None]:
    """The signed payload of a REST call, as sent (the query string, then the body, each
    without its `signature` pair), and the signature (percent-decoded)."""
    signature = None
    kept = []
    for raw in (raw_query, raw_body):
        parts = []
        for pair in filter(None, raw.split("&")):
            if pair.startswith("signature="):
                signature = dict(parse_qsl(pair))["signature"] if pair != "signature=" else ""
            else:
                parts.append(pair)
        kept.append("&".join(parts))
    return "".join(kept), signature


def rest_params(raw_query: str, raw_body: str) -> dict[str, str]:
    """The call's parameters; one sent in both the query and the body is the query's."""
    body = dict(parse_qsl(raw_body, keep_blank_values=True))
    return body | dict(parse_qsl(raw_query, keep_blank_values=True))
