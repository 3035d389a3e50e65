"""The merge rule: which of two things the exchange said about an order is the newer.

Pure, no I/O. Every update gets a *version*, a total order built only from what the exchange
gives: state rank (new < partially_filled < terminal), cumulative filled size (never shrinks),
`update_time` where the source has one, then the source and the content as tie-breaks. The
book keeps, per order, the update with the highest version, so the result is the same for any
arrival order, a duplicate changes nothing, and nothing moves an order backwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum

import msgspec

from tracker.codec import OPEN_STATES, SOURCES, OrderUpdate

RANK = {"new": 0, "partially_filled": 1}  # every other state is terminal: 2
SOURCE_RANK = {source: i for i, source in enumerate(SOURCES)}
OPTIONAL_STATIC = ("type", "client_order_id", "create_time")


class Outcome(StrEnum):
    APPLIED = "applied"  # the order moved on
    DUPLICATE = "duplicate"  # nothing new: the same progress, maybe from another source
    STALE = "stale"  # older than what the book holds
    INVALID = "invalid"  # refused by the codec; never reaches the merge


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
    """
    if current is None:
        return Outcome.APPLIED, update
    new_v = (*progress(update), SOURCE_RANK[update.source])
    cur_v = (*progress(current), SOURCE_RANK[current.source])
    if new_v == cur_v:
        new_c, cur_c = _content(update), _content(current)
        if new_c == cur_c:
            return Outcome.DUPLICATE, current
        newer = new_c > cur_c
    else:
        newer = new_v > cur_v
    winner, loser = (update, current) if newer else (current, update)
    row = _fill_gaps(winner, loser)
    if _same_progress(update, current):
        return Outcome.DUPLICATE, row
    return (Outcome.APPLIED if winner is update else Outcome.STALE), row


def _same_progress(a: OrderUpdate, b: OrderUpdate) -> bool:
    """The same event seen twice: equal state and fills, and equal times where both have one."""
    (ra, fa, ta), (rb, fb, tb) = progress(a), progress(b)
    return (ra, fa) == (rb, fb) and (ta == tb or -1 in (ta, tb))


def _fill_gaps(winner: OrderUpdate, loser: OrderUpdate) -> OrderUpdate:
    """Facts that never change (type, client id, creation time) may be missing from the
    winner's source (a v2 row has no client id); take them from the other update."""
    gaps = {name: getattr(loser, name) for name in OPTIONAL_STATIC
            if getattr(winner, name) is None and getattr(loser, name) is not None}
    if (winner.filled_notional is None and loser.filled_notional is not None
            and winner.filled_size == loser.filled_size):
        gaps["filled_notional"] = loser.filled_notional
    return msgspec.structs.replace(winner, **gaps) if gaps else winner


class Book:
    """Every order the tracker has seen, by id: the in-memory side of the SQLite book."""

    def __init__(self, rows: Iterable[OrderUpdate] = ()) -> None:
        self.rows: dict[str, OrderUpdate] = {r.order_id: r for r in rows}
        self._open = sum(1 for r in self.rows.values() if r.state in OPEN_STATES)

    def apply(self, update: OrderUpdate) -> tuple[Outcome, OrderUpdate]:
        before = self.rows.get(update.order_id)
        outcome, row = merge(before, update)
        self.rows[update.order_id] = row
        self._open += (row.state in OPEN_STATES) - (before is not None
                                                     and before.state in OPEN_STATES)
        return outcome, row

    def open_ids(self, symbols: Iterable[str] | None = None) -> set[str]:
        wanted = None if symbols is None else set(symbols)
        return {oid for oid, r in self.rows.items()
                if r.state in OPEN_STATES and (wanted is None or r.symbol in wanted)}

    def open_count(self) -> int:
        """Kept as updates land, so asking is free even with a large book."""
        return self._open
