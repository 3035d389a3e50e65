"""BitMart's private-stream frame decoder: one WebSocket frame in, what the exchange meant
out.

It is pure (no socket, no clock, no log), so every kind of frame is tested without a
connection. Frames are text or raw-DEFLATE binary; a frame that inflates past `max_frame`
bytes is refused, so a decompression bomb costs nothing.
"""

from __future__ import annotations

from typing import Any

from tracker.frames import (
    EXCERPT,
    Ack,
    ErrorEvent,
    Frame,
    OrderPush,
    Pong,
    Unexpected,
    Unreadable,
    json_of,
    kept,
)
from tracker.venues.bitmart.codec import push_frame
from tracker.venues.bitmart.protocol import ORDER_TABLES, PONG, SUBSCRIBE, UNSUBSCRIBE, inflate


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
        return kept(fast[1], wanted)
    message = json_of(text)
    if isinstance(message, Unreadable):
        return message
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
