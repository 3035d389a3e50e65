"""What the session is told: the stream's news, the seed's and the resolver's answers, the
clock and a stop. Plain values with no I/O, so the session can be driven by a test as well
as by the driver (`tracker.sync`), and the pure core imports no transport to name them.
msgspec Structs, not frozen dataclasses: a push is one per frame, and a frozen dataclass
costs some nine times as much to make (docs/measured.md, "Binance, third round")."""

from __future__ import annotations

from typing import Any

import msgspec

from tracker.codec import OrderUpdate
from tracker.reasons import NotLive

# -- from the stream ---------------------------------------------------------------------


class Up(msgspec.Struct, frozen=True):
    conn: int  # increases with every connection


class Push(msgspec.Struct, frozen=True, gc=False):
    """A push's elements of the wanted symbols: each an `OrderUpdate` where the venue's
    fast path read the whole frame, else the raw JSON value, for its codec to judge."""

    conn: int
    data: list[Any]
    received_ms: int


class Bad(msgspec.Struct, frozen=True):
    """A frame the stream could not use: journaled as invalid by the consumer."""

    conn: int
    reason: str
    excerpt: str


class Down(msgspec.Struct, frozen=True):
    conn: int
    reason: str
    cause: NotLive = NotLive.DISCONNECTED


# -- from the seed and the resolver ------------------------------------------------------


class SeedBegin(msgspec.Struct, frozen=True):
    """The seed `token` starts reading now: pushes from here on are held for its splice."""

    token: int


class Decoded(msgspec.Struct):
    """One symbol's seed, each row decoded on the page it came in: a large seed, or a
    reconcile under flow, never holds raw rows (several times the size of the decoded
    ones) beyond their page."""

    updates: list[OrderUpdate] = msgspec.field(default_factory=list)
    invalid: list[tuple[str, str]] = msgspec.field(default_factory=list)  # (reason, excerpt)
    uncertain: set[str] = msgspec.field(default_factory=set)


class Seeded(msgspec.Struct, frozen=True):
    token: int
    seeds: list[Decoded]
    source: str


class SeedFailed(msgspec.Struct, frozen=True):
    token: int
    reason: str
    cause: NotLive = NotLive.EXCHANGE


class SeedProgress(msgspec.Struct, frozen=True):
    token: int
    text: str


class Detail(msgspec.Struct, frozen=True):
    order_id: str
    row: Any | None
    error: str | None  # None with no row: the exchange does not know the order


# -- from the driver ---------------------------------------------------------------------


class Tick(msgspec.Struct, frozen=True):
    pass


class Stop(msgspec.Struct, frozen=True):
    pass


class Markets(msgspec.Struct, frozen=True):
    """The venue's markets the book does not have yet, or has otherwise: `markets` rows
    (venue, symbol, base, quote), sorted. The driver writes them with the next batch; the
    session has no part in them."""

    rows: list[tuple[str, str, str, str]]


class Overflow(msgspec.Struct, frozen=True):
    """Events were dropped because the writer fell `queue_max` behind: the book missed
    them, so it is not live until a new splice."""

    dropped: int = 0


Event = Up | Down | Push | Bad | SeedBegin | Seeded | SeedFailed | SeedProgress | Detail \
    | Markets | Tick | Stop | Overflow
