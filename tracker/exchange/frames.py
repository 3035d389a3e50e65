"""The private stream's frame decoder: one WebSocket frame in, what the exchange meant out.

It is pure (no socket, no clock, no log), so every kind of frame is tested without a
connection, and the stream is left to count, log and report what this module decides.
Frames are text or raw-DEFLATE binary; a frame that inflates past `max_frame` bytes is
refused, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tracker.codec import push_frame
from tracker.venues.bitmart.protocol import ORDER_TABLES, PONG, SUBSCRIBE, UNSUBSCRIBE, inflate

EXCERPT = 200  # characters of a bad frame kept for the journal (hex: bytes, so twice that)
NOT_JSON = "frame is not JSON"


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to our keep-alive ping."""


@dataclass(frozen=True, slots=True)
class OrderPush:
    """An order push's elements of the wanted symbols; `ignored` counts the others. Each
    element is an `OrderUpdate` where the codec's fast path read the whole frame, else the
    raw JSON value, for `codec.from_push` to judge."""

    data: list[Any]
    ignored: int


@dataclass(frozen=True, slots=True)
class Ack:
    """A subscribe or unsubscribe answer: awaited while connecting, harmless later."""

    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """The exchange reporting an error on the connection rather than in a push."""

    code: str
    message: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A frame with no JSON in it: bad DEFLATE, past the size cap, not UTF-8, not JSON."""

    reason: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class Unexpected:
    """JSON the stream has no use for. `body` stays, because while connecting any answer
    but a push is the reply to judge (a login answer is one of these)."""

    reason: str
    excerpt: str
    body: Any


Bad = Unreadable | Unexpected
Frame = Pong | OrderPush | Ack | ErrorEvent | Bad


def frame_text(frame: str | bytes, limit: int) -> str:
    """A frame as text: binary frames are inflated (within `limit`) and must be UTF-8.
    ValueError says why a frame cannot be read; the consumer journals it as bad."""
    if isinstance(frame, str):
        return frame
    try:
        return inflate(frame, limit).decode()
    except UnicodeDecodeError:
        raise ValueError("frame is not UTF-8") from None


def decode(frame: str | bytes, max_frame: int, wanted: frozenset[str] | None) -> Frame:
    """What one frame is. `wanted` None keeps every symbol's elements."""
    try:
        text = frame_text(frame, max_frame)
    except ValueError as exc:
        return Unreadable(str(exc), frame[:EXCERPT].hex() if isinstance(frame, bytes)
                          else frame[:EXCERPT])
    if text == PONG:
        return Pong()
    if (fast := push_frame(text)) is not None and fast[0] in ORDER_TABLES:
        updates = fast[1]
        if wanted is None:
            return OrderPush(updates, 0)
        kept = [u for u in updates if u.symbol in wanted]
        return OrderPush(kept, len(updates) - len(kept))
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return Unreadable(NOT_JSON, text[:EXCERPT])
    if not isinstance(message, dict):
        return Unexpected("unknown message", text[:EXCERPT], message)
    table = message.get("table")
    if isinstance(table, str):
        data = message.get("data")
        if table not in ORDER_TABLES:
            return Unexpected(f"push for an unexpected table {table[:60]!r}", text[:EXCERPT],
                              message)
        if not isinstance(data, list):
            return Unexpected("push without a data array", text[:EXCERPT], message)
        return OrderPush(data, 0) if wanted is None else ours(data, wanted)
    if "errorCode" in message:
        return ErrorEvent(str(message.get("errorCode")), str(message.get("errorMessage")),
                          message)
    if message.get("event") in (SUBSCRIBE, UNSUBSCRIBE):
        return Ack(message)
    return Unexpected("unknown message", text[:EXCERPT], message)


def ours(data: list[Any], wanted: frozenset[str]) -> OrderPush:
    """The elements of the wanted symbols, whichever topic brought them. An element without
    a string symbol is kept: the codec journals it as invalid, where a person can see it."""
    kept = [e for e in data if not isinstance(e, dict)
            or not isinstance(symbol := e.get("symbol"), str) or symbol in wanted]
    return OrderPush(kept, len(data) - len(kept))
