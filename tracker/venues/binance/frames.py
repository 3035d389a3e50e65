"""Binance's user data stream frames, decoded: one WebSocket API frame in, what Binance
meant out. Pure (no socket, no clock, no log), so every kind of frame is tested without a
connection.

An event arrives in one of three envelopes, by era: `{"subscriptionId", "event"}` (the
WebSocket API since 2025), `{"stream", "data"}` (listenKey streams, gone since 2026-02-20)
and bare; all three are read. A response to a request carries its `id`; one with a null
`id` is Binance speaking unasked, as when it revokes a session whose key became invalid.
"""

from __future__ import annotations

from typing import Any

from tracker.frames import (
    EXCERPT,
    Ack,
    Ended,
    ErrorEvent,
    Frame,
    Handover,
    OrderPush,
    Unexpected,
    Unreadable,
    json_of,
    text_of,
)
from tracker.reasons import NotLive
from tracker.venues.binance import protocol as p
from tracker.venues.binance.codec import report_frame

_IGNORED = OrderPush([], 1)  # an event of no order's state: counted, nothing queued

CREDENTIAL_HINTS = {
    p.REJECTED_MBX_KEY: "check api_key, the key's IP restrictions and that it may read "
                        "(\"Enable Reading\") on Binance",
    p.INVALID_SIGNATURE: "the signature is wrong: check api_secret and key_type (an RSA or "
                         "Ed25519 key is given as its PEM private key)",
}


def credential_hint(code: object) -> str:
    default = "check api_key and api_secret"
    return CREDENTIAL_HINTS.get(code, default) if isinstance(code, int) else default


def cause_of(status: object, code: object) -> NotLive:
    """What a refusal (an HTTP or WebSocket API status, and Binance's code) means for the
    book."""
    if code in p.CREDENTIAL_CODES or status == 401:
        return NotLive.CREDENTIALS
    if code in p.CLOCK_CODES:
        return NotLive.CLOCK
    if status in (p.HTTP_RATE_LIMITED, p.HTTP_BANNED) or code == p.TOO_MANY_REQUESTS:
        return NotLive.RATE_LIMITED
    return NotLive.EXCHANGE


def error_of(body: dict[str, Any]) -> tuple[object, str]:
    """(code, message) of an error response."""
    error = body.get("error")
    if not isinstance(error, dict):
        return None, ""
    return error.get("code"), str(error.get("msg", ""))[:200]


def decode(frame: str | bytes, wanted: frozenset[str] | None) -> Frame:
    """What one frame is. `wanted` None keeps every symbol's orders."""
    frame = text_of(frame)
    if isinstance(frame, Unreadable):
        return frame
    if (update := report_frame(frame)) is not None:  # read whole by the codec's fast path
        return OrderPush([update], 0) if wanted is None or update.symbol in wanted else _IGNORED
    return read(frame, wanted)


def read(frame: str, wanted: frozenset[str] | None) -> Frame:
    """What one frame is, read by `json.loads`: the authority that the codec's fast path
    (`report_frame`) keeps equal to, and the reader of every frame that path leaves."""
    message = json_of(frame)
    if isinstance(message, Unreadable):
        return message
    if not isinstance(message, dict):
        return Unexpected("unknown message", frame[:EXCERPT], message)
    event = message.get("event", message.get("data", message))
    if isinstance(event, dict) and "e" in event:
        return _event(event, frame, wanted)
    if "id" in message and "status" in message:
        return _response(message)
    return Unexpected("unknown message", frame[:EXCERPT], message)


def _event(event: dict[str, Any], frame: str, wanted: frozenset[str] | None) -> Frame:
    kind = event["e"]
    if kind == p.EXECUTION_REPORT:
        symbol = event.get("s")
        # An event without a string symbol is kept: the codec journals it as invalid.
        if wanted is None or not isinstance(symbol, str) or symbol in wanted:
            return OrderPush([event], 0)
        return _IGNORED
    if kind == p.SERVER_SHUTDOWN:
        return Handover("Binance announced a server shutdown (serverShutdown)")
    if kind == p.STREAM_TERMINATED:
        return Ended("Binance ended the user data subscription (eventStreamTerminated)",
                     NotLive.DISCONNECTED)
    if isinstance(kind, str):
        # Balances, and `listStatus`: an order list's own status, sent "in addition to the
        # executionReport" of each order it changes ([BN] user-data-stream.md), which
        # carry every order's state; and kinds Binance adds later.
        return _IGNORED
    return Unexpected("event without a type", frame[:EXCERPT], event)


def _response(message: dict[str, Any]) -> Frame:
    status = message["status"]
    if status == 200:
        return Ack(message)
    code, text = error_of(message)
    if message["id"] is None:  # unasked: the session is over (a revoked key: 401, -2015)
        cause = cause_of(status, code)
        hint = f": {credential_hint(code)}" if cause is NotLive.CREDENTIALS else ""
        return Ended(f"Binance ended the session: status {status} code {code} {text}{hint}",
                     cause)
    return ErrorEvent(str(code), text, message)
