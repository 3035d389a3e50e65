"""OKX's private-stream frames, decoded: one WebSocket frame in, what OKX meant out. Pure
(no socket, no clock, no log), so every kind of frame is tested without a connection.

A frame is the text `pong` (the answer to our `ping`), an event (`login`, `subscribe`,
`error`, `notice`, `channel-conn-count`, `channel-conn-count-error`), or a push
`{"arg": {"channel": "orders", ...}, "data": [...]}` ([OKX] #overview-websocket-*,
#order-book-trading-trade-ws-order-channel, as docs/okx.md cites them).

Refusals that leave the connection logged out or unsubscribed are `Ended`, not
`ErrorEvent`: OKX's login carries no request id, so its refusal cannot be told from one
sent unasked later, and an `ErrorEvent` after the connection is up is only logged, while
the connection, kept open by our pings, would stay quiet and the book would call itself
live. `Ended` drops the connection whenever it comes (while connecting, the stream raises
it as the refusal, with its cause); the next connection logs in afresh.
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
    Pong,
    Unexpected,
    Unreadable,
    json_of,
    kept,
    text_of,
)
from tracker.reasons import NotLive
from tracker.venues.okx import protocol as p
from tracker.venues.okx.codec import push_frame

ACKS = frozenset({p.LOGIN, p.SUBSCRIBE, p.UNSUBSCRIBE, p.CONN_COUNT})
CREDENTIAL_HINT = ("check api_key, api_secret and passphrase, and that the key was made for "
                   "this environment (demo keys work only with demo trading)")


def cause_of(status: object, code: object) -> NotLive:
    """What a refusal (a REST answer's HTTP status and OKX's code, or a WebSocket error's
    code) means for the book. A code that is no string is no code OKX writes (and a list
    could not even be looked up)."""
    if not isinstance(code, str):
        code = None
    if code in p.CREDENTIAL_CODES or code in p.WS_CREDENTIAL_CODES:
        return NotLive.CREDENTIALS
    if code in p.CLOCK_CODES or code in p.WS_CLOCK_CODES:
        return NotLive.CLOCK
    if code in p.LIMIT_CODES or code == p.WS_TOO_FREQUENT or status == p.HTTP_TOO_MANY:
        return NotLive.RATE_LIMITED
    return NotLive.EXCHANGE


def decode(frame: str | bytes, wanted: frozenset[str] | None) -> Frame:
    """What one frame is. `wanted` None keeps every instrument's orders."""
    frame = text_of(frame)
    if isinstance(frame, Unreadable):
        return frame
    if frame == p.PONG:
        return Pong()
    if (updates := push_frame(frame)) is not None:  # read whole by the codec's fast path
        return kept(updates, wanted)
    return read(frame, wanted)


def read(frame: str, wanted: frozenset[str] | None) -> Frame:
    """What one frame is, read by `json.loads`: the authority that the codec's fast path
    (`push_frame`) keeps equal to, and the reader of every frame that path leaves."""
    message = json_of(frame)
    if isinstance(message, Unreadable):
        return message
    if not isinstance(message, dict):
        return Unexpected("unknown message", frame[:EXCERPT], message)
    if "event" in message:
        return _event(message, frame)
    arg = message.get("arg")
    if isinstance(arg, dict) and "data" in message:
        return _push(message, arg, frame, wanted)
    return Unexpected("unknown message", frame[:EXCERPT], message)


def _push(message: dict[str, Any], arg: dict[str, Any], frame: str,
          wanted: frozenset[str] | None) -> Frame:
    channel = arg.get("channel")
    if channel != p.ORDERS_CHANNEL:
        return Unexpected(f"push for an unexpected channel {str(channel)[:60]!r}",
                          frame[:EXCERPT], message)
    data = message["data"]
    if not isinstance(data, list):
        return Unexpected("push without a data array", frame[:EXCERPT], message)
    if wanted is None:
        return OrderPush(data, 0)
    # An element without a string instId is kept: the codec journals it as invalid.
    kept = [e for e in data if not isinstance(e, dict)
            or not isinstance(inst := e.get("instId"), str) or inst in wanted]
    return OrderPush(kept, len(data) - len(kept))


def _event(message: dict[str, Any], frame: str) -> Frame:
    event, code = message["event"], message.get("code")
    if not isinstance(event, str):  # OKX names its events; a list could not be looked up
        return Unexpected("event without a name", frame[:EXCERPT], message)
    text = str(message.get("msg", ""))[:200]
    if event in ACKS and code in (None, p.SUCCESS):
        return Ack(message)
    if event == p.NOTICE and code == p.WS_UPGRADE_NOTICE:
        return Handover(f"OKX will close the connection for a service upgrade "
                        f"(notice {code}): {text}")
    if event == p.CONN_COUNT_ERROR:
        return Ended(f"OKX ended the orders subscription: more than "
                     f"{p.CONNECTIONS_PER_CHANNEL} connections of this account subscribe to "
                     f"the channel ({p.CONN_COUNT_ERROR}); close the others",
                     NotLive.RATE_LIMITED)
    if event == p.ERROR or event in ACKS:
        return _error(message, str(code), text)
    return Unexpected(f"unknown event {str(event)[:60]!r}", frame[:EXCERPT], message)


def _error(message: dict[str, Any], code: str, text: str) -> Frame:
    if code == p.WS_PLEASE_LOG_IN:
        # The connection is not (or no longer) logged in: a new one logs in again.
        return Ended(f"OKX says the connection is not logged in: code {code} {text}",
                     NotLive.DISCONNECTED)
    cause = cause_of(None, code)
    if cause is NotLive.CREDENTIALS:
        return Ended(f"OKX refused the login: code {code} {text}: {CREDENTIAL_HINT}", cause)
    if cause is NotLive.CLOCK:
        return Ended(f"OKX refused the login's timestamp: code {code} {text}", cause)
    return ErrorEvent(code, text, message)
