"""What one private-stream frame can be, whatever the venue: each venue's decoder (pure:
no socket, no clock, no log) says which, and the core's stream counts, logs and reports
what it decided. msgspec Structs, as `tracker.events` are: one is made for every frame."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from tracker.reasons import NotLive

EXCERPT = 200  # characters of a bad frame kept for the journal (hex: bytes, so twice that)
NOT_JSON = "frame is not JSON"


class Pong(msgspec.Struct, frozen=True):
    """The answer to our keep-alive ping."""


class OrderPush(msgspec.Struct, frozen=True, gc=False):
    """An order push's elements of the wanted symbols; `ignored` counts the others. Each
    element is an `OrderUpdate` where the venue's fast path read the whole frame, else the
    raw JSON value, for its codec to judge."""

    data: list[Any]
    ignored: int


class Ack(msgspec.Struct, frozen=True):
    """A subscribe or unsubscribe answer: awaited while connecting, harmless later."""

    body: dict[str, Any]


class ErrorEvent(msgspec.Struct, frozen=True):
    """The exchange reporting an error on the connection rather than in a push."""

    code: str
    message: str
    body: dict[str, Any]


class Unreadable(msgspec.Struct, frozen=True):
    """A frame with no JSON in it: bad DEFLATE, past the size cap, not UTF-8, not JSON."""

    reason: str
    excerpt: str


class Unexpected(msgspec.Struct, frozen=True):
    """JSON the stream has no use for. `body` stays, because while connecting any answer
    but a push is the reply to judge (a login answer is one of these)."""

    reason: str
    excerpt: str
    body: Any


class Handover(msgspec.Struct, frozen=True):
    """The venue says it will end this connection soon (Binance's `serverShutdown`): the
    stream opens the next one and subscribes before letting this one go, so that every
    event reaches at least one of them and the book stays live, as at a rotation by age."""

    reason: str


class Ended(msgspec.Struct, frozen=True):
    """The venue ended the subscription while the connection stays open (Binance's
    `eventStreamTerminated`, a key revoked mid-session): events after it are not sent, so
    the stream drops the connection and the next one splices afresh."""

    reason: str
    cause: NotLive


BadFrame = Unreadable | Unexpected
Frame = Pong | OrderPush | Ack | ErrorEvent | Handover | Ended | BadFrame


def text_of(frame: str | bytes) -> str | Unreadable:
    """A JSON venue's frame as text: a binary frame must be UTF-8 (its excerpt in hex)."""
    if isinstance(frame, str):
        return frame
    try:
        return frame.decode()
    except UnicodeDecodeError:
        return Unreadable("frame is not UTF-8", frame[:EXCERPT].hex())


def json_of(text: str) -> Any:
    """The frame's JSON value, or Unreadable: what `json.loads` refuses, a syntax error or
    an integer of more digits than Python converts (a ValueError), or nesting too deep."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return Unreadable(NOT_JSON, text[:EXCERPT])


def kept(updates: list[Any], wanted: frozenset[str] | None) -> OrderPush:
    """A fast path's updates of the wanted symbols (None: every one), the others counted as
    ignored: what a frame of many orders is once read whole."""
    if wanted is None:
        return OrderPush(updates, 0)
    mine = [u for u in updates if u.symbol in wanted]
    return OrderPush(mine, len(updates) - len(mine))
