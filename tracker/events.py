"""What the session is told: the stream's news, the seed's and the resolver's answers, the
clock and a stop. Plain values with no I/O, so the session can be driven by a test as well
as by the driver (`tracker.sync`), and the pure core imports no transport to name them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracker.codec import OrderUpdate
from tracker.reasons import NotLive

# -- from the stream ---------------------------------------------------------------------


@dataclass(frozen=True)
class Up:
    conn: int  # increases with every connection


@dataclass(frozen=True)
class Push:
    """A push's elements of the wanted symbols: each an `OrderUpdate` where the venue's
    fast path read the whole frame, else the raw JSON value, for its codec to judge."""

    conn: int
    data: list[Any]
    received_ms: int


@dataclass(frozen=True)
class Bad:
    """A frame the stream could not use: journaled as invalid by the consumer."""

    conn: int
    reason: str
    excerpt: str


@dataclass(frozen=True)
class Down:
    conn: int
    reason: str
    cause: NotLive = NotLive.DISCONNECTED


# -- from the seed and the resolver ------------------------------------------------------


@dataclass(frozen=True)
class SeedBegin:
    """The seed `token` starts reading now: pushes from here on are held for its splice."""

    token: int


@dataclass
class Decoded:
    """One symbol's seed, each row decoded on the page it came in: a large seed, or a
    reconcile under flow, never holds raw rows (several times the size of the decoded
    ones) beyond their page."""

    updates: list[OrderUpdate] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (reason, excerpt)
    uncertain: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Seeded:
    token: int
    seeds: list[Decoded]
    source: str


@dataclass(frozen=True)
class SeedFailed:
    token: int
    reason: str
    cause: NotLive = NotLive.EXCHANGE


@dataclass(frozen=True)
class SeedProgress:
    token: int
    text: str


@dataclass(frozen=True)
class Detail:
    order_id: str
    row: Any | None
    error: str | None  # None with no row: the exchange does not know the order


# -- from the driver ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Markets:
    """The venue's markets the book does not have yet, or has otherwise: `markets` rows
    (venue, symbol, base, quote), sorted. The driver writes them with the next batch; the
    session has no part in them."""

    rows: list[tuple[str, str, str, str]]


@dataclass(frozen=True)
class Overflow:
    """Events were dropped because the writer fell `queue_max` behind: the book missed
    them, so it is not live until a new splice."""

    dropped: int = 0


Event = Up | Down | Push | Bad | SeedBegin | Seeded | SeedFailed | SeedProgress | Detail \
    | Markets | Tick | Stop | Overflow
