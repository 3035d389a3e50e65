"""What one private-stream frame can be, whatever the venue: each venue's decoder (pure:
no socket, no clock, no log) says which, and the core's stream counts, logs and reports
what it decided."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EXCERPT = 200  # characters of a bad frame kept for the journal (hex: bytes, so twice that)
NOT_JSON = "frame is not JSON"


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to our keep-alive ping."""


@dataclass(frozen=True, slots=True)
class OrderPush:
    """An order push's elements of the wanted symbols; `ignored` counts the others. Each
    element is an `OrderUpdate` where the venue's fast path read the whole frame, else the
    raw JSON value, for its codec to judge."""

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


BadFrame = Unreadable | Unexpected
Frame = Pong | OrderPush | Ack | ErrorEvent | BadFrame
