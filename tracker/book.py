"""The merge rule: which of two things the exchange said about an order is the newer.

Pure, no I/O. Every update gets a *version*, a total order built only from what the exchange
gives: state rank (new < partially_filled < terminal), cumulative filled size (never shrinks),
`update_time` where the source has one, then the source and the content as tie-breaks.
Every venue's updates are ordered by this one rule: a venue supplies these fields, nothing
else. The
book keeps, per order, the update with the highest version, so the result is the same for any
arrival order, a duplicate changes nothing, and nothing moves an order backwards.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from decimal import Decimal
from enum import StrEnum

import msgspec
from rbloom import Bloom

from tracker.codec import OPEN_STATES, OrderUpdate

RANK = {"new": 0, "partially_filled": 1}  # every other state is terminal: 2
# The kinds of source, lowest first: an update the tracker inferred loses to any answer
# from the exchange about the same progress, a seed row to a detail answer, and that to a
# push. A source is named `<kind>` or `<kind>_<detail>` ("seed_v4"); sources of one kind
# rank by their names.
SOURCE_KINDS = ("inferred", "seed", "detail", "push")
_KIND_RANK = {kind: i for i, kind in enumerate(SOURCE_KINDS)}


class _SourceRanks(dict[str, tuple[int, str]]):
    """Each source's rank, worked out once: the merge asks for it at every update."""

    def __missing__(self, source: str) -> tuple[int, str]:
        kind = source.partition("_")[0]
        if kind not in _KIND_RANK:
            raise ValueError(f"source {source!r} is not of a kind in {SOURCE_KINDS}")
        rank = self[source] = (_KIND_RANK[kind], source)
        return rank


SOURCE_RANK = _SourceRanks()
OPTIONAL_STATIC = ("type", "client_order_id", "create_time")


class Outcome(StrEnum):
    APPLIED = "applied"  # the order moved on
    DUPLICATE = "duplicate"  # nothing new: the same progress, maybe from another source
    STALE = "stale"  # older than what the book holds
    INVALID = "invalid"  # refused by the codec; never reaches the merge


# The members as plain names: an enum member read through its class is a descriptor call,
# and the merge names one for every update.
APPLIED, DUPLICATE, STALE, INVALID = Outcome


FIELDS = OrderUpdate.__struct_fields__


def progress(u: OrderUpdate) -> tuple[int, Decimal, int]:
    return RANK.get(u.state, 2), u.filled_size, -1 if u.update_time is None else u.update_time


def _content(u: OrderUpdate) -> tuple[str, ...]:
    """The last tie-break: every field as text, so that any two different updates order
    the same way whichever arrives first. Rarely needed, so computed only when it is."""
    return tuple("" if (v := getattr(u, name)) is None else str(v) for name in FIELDS)


def merge(current: OrderUpdate | None, update: OrderUpdate) -> tuple[Outcome, OrderUpdate]:
    """The new row for one order, and what the update was to the book.

    Versions order by (state rank, filled size, update time, source rank, content): a
    total order, compared a part at a time because the first parts nearly always decide.
    Each version is worked out once: the merge runs for every update the book takes.
    """
    if current is None:
        return APPLIED, update
    new_p, cur_p = progress(update), progress(current)
    new_v = (*new_p, SOURCE_RANK[update.source])
    cur_v = (*cur_p, SOURCE_RANK[current.source])
    if new_v == cur_v:
        new_c, cur_c = _content(update), _content(current)
        if new_c == cur_c:
            return DUPLICATE, current
        newer = new_c > cur_c
    else:
        newer = new_v > cur_v
    winner, loser = (update, current) if newer else (current, update)
    row = _fill_gaps(winner, loser)
    if _same_progress(new_p, cur_p):
        return DUPLICATE, row
    return (APPLIED if winner is update else STALE), row


def _same_progress(a: tuple[int, Decimal, int], b: tuple[int, Decimal, int]) -> bool:
    """The same event seen twice: equal state and fills, and equal times where both have one."""
    (ra, fa, ta), (rb, fb, tb) = a, b
    return (ra, fa) == (rb, fb) and (ta == tb or -1 in (ta, tb))


def _fill_gaps(winner: OrderUpdate, loser: OrderUpdate) -> OrderUpdate:
    """Facts that never change (type, client id, creation time) may be missing from the
    winner's source (a v2 row has no client id); take them from the other update. Most
    winners lack none: that case makes nothing."""
    gaps = None
    for name in OPTIONAL_STATIC:
        if getattr(winner, name) is None and (value := getattr(loser, name)) is not None:
            if gaps is None:
                gaps = {}
            gaps[name] = value
    if (winner.filled_notional is None and loser.filled_notional is not None
            and winner.filled_size == loser.filled_size):
        gaps = {} if gaps is None else gaps
        gaps["filled_notional"] = loser.filled_notional
    return msgspec.structs.replace(winner, **gaps) if gaps else winner


class Gone:
    """The ids of orders the book has let go of: closed, written, and held only in the store.

    Bloom filters (rbloom), not a set: about 1.2 bytes an id at a 1% false-positive rate,
    against some 70 for a set's entry, so a book that has seen millions of orders holds a few
    MB for them. A false positive costs one read of the store for an order that turns out
    to be new; a false negative cannot happen, and it is what would let a late update
    bring a closed order back. A filter past its capacity errs more and more often, so a
    full one is kept as it is and a new one, twice as large, takes the adds that follow."""

    FIRST = 1 << 20
    ERROR_RATE = 0.01

    def __init__(self, expected: int = 0) -> None:
        self.capacity = max(self.FIRST, 2 * expected)
        self.filters = [Bloom(self.capacity, self.ERROR_RATE)]
        self.held = 0  # ids added to the newest filter

    def add(self, order_id: str) -> None:
        if self.held >= self.capacity:
            self.capacity *= 2
            self.filters.append(Bloom(self.capacity, self.ERROR_RATE))
            self.held = 0
        self.filters[-1].add(order_id)
        self.held += 1

    def __contains__(self, order_id: str) -> bool:
        return any(order_id in f for f in self.filters)


class Book:
    """The orders the tracker holds in memory, by id: every open one, and closed ones until
    the session lets them go (`let_go`) once they are written. The store keeps every order
    ever seen; `elsewhere` says which ids must be read back from it (`recall`) before an
    update for them can be merged, so the book never treats a closed order as a new one."""

    def __init__(self, rows: Iterable[OrderUpdate] = (), gone: Gone | None = None) -> None:
        self.rows: dict[str, OrderUpdate] = {r.order_id: r for r in rows}
        self.gone = Gone() if gone is None else gone
        self._open = sum(1 for r in self.rows.values() if r.state in OPEN_STATES)

    def apply(self, update: OrderUpdate) -> tuple[Outcome, OrderUpdate]:
        before = self.rows.get(update.order_id)
        outcome, row = merge(before, update)
        self.rows[update.order_id] = row
        self._open += (row.state in OPEN_STATES) - (before is not None
                                                     and before.state in OPEN_STATES)
        return outcome, row

    def elsewhere(self, order_id: str) -> bool:
        """The order may be one the book let go of: read it back before merging."""
        return order_id not in self.rows and order_id in self.gone

    def let_go(self, order_id: str) -> None:
        """Only closed orders: the open ones are what the book is for, and the splice's
        vanished-order rule reads them all."""
        row = self.rows[order_id]
        if row.state in OPEN_STATES:
            raise ValueError(f"order {order_id} is open: the book keeps it")
        del self.rows[order_id]
        self.gone.add(order_id)

    def recall(self, row: OrderUpdate) -> bool:
        """A row read back from the store, taken unless the book holds the order already
        (what it holds is then newer)."""
        if row.order_id in self.rows:
            return False
        self.rows[row.order_id] = row
        self._open += row.state in OPEN_STATES
        return True

    def open_ids(self, symbols: Iterable[str] | None = None) -> set[str]:
        wanted = None if symbols is None else set(symbols)
        return {oid for oid, r in self.rows.items()
                if r.state in OPEN_STATES and (wanted is None or r.symbol in wanted)}

    def open_count(self) -> int:
        """Kept as updates land, so asking is free even with a large book."""
        return self._open


class Closing:
    """The closed orders the book holds, by their last write, oldest first: which may go.

    An order may go once its last write is durable (the store has committed that seq: what
    `recall` reads back is then what the book held) and is older than the hold, which
    spares a read-back for the repeats that follow a close (a second push, the next seed)."""

    def __init__(self) -> None:
        self.written: dict[str, tuple[float, int]] = {}  # id: (time, journal seq) of the last
        self.queue: deque[tuple[float, str]] = deque()  # (time, id), a row per write

    def wrote(self, order_id: str, at: float, seq: int) -> None:
        self.written[order_id] = (at, seq)
        self.queue.append((at, order_id))

    def due(self, before: float, durable_seq: int) -> Iterator[str]:
        """The ids that may go, each taken off the schedule as it is yielded."""
        while self.queue:
            at, oid = self.queue[0]
            if at > before:
                return
            last = self.written.get(oid)
            latest = last is not None and last[0] == at  # else a later write superseded it
            if latest and last[1] > durable_seq:
                return  # not committed yet, nor is anything written after it
            self.queue.popleft()
            if latest:
                del self.written[oid]
                yield oid
