"""What one transaction writes (`Batch`: journal rows, order rows, sync_state changes) and
what a start reads back (`Loaded`): plain data the pure session fills and reads, with no
database, thread or event loop in sight; `tracker.storage` writes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tracker.book import Gone, Outcome
from tracker.codec import OrderUpdate, amount_text

COUNTERS = tuple(o.value for o in Outcome)
_TEXT = dict(zip(Outcome, COUNTERS, strict=True))  # a member's `value` is a descriptor call


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Batch:
    """Everything one transaction writes: journal rows, order rows, sync_state changes."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    # (row, journal seq, unresolved, changed_at): turned into a backend's parameters one at
    # a time as its writer binds them, so a splice of 100,000 orders never holds 100,000
    # formatted copies beside the book's own rows.
    orders: dict[str, tuple[OrderUpdate, int, bool, int]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    # Orders that leave the book: those of symbols the operator dropped (`tracker.identity`).
    forget: list[str] = field(default_factory=list)
    # The venue's markets to record, (venue, symbol, base, quote), sorted: written at a
    # start and after a seed, never with a push (`tracker.sync`). Sorted, so that trackers
    # of one venue sharing a PostgreSQL book take the rows' locks in one order.
    markets: list[tuple[str, str, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.orders or self.state or self.forget or self.markets)

    def journal(self, seq: int, epoch: int, source: str, outcome: Outcome,
                update: OrderUpdate | None = None, *, order_id: str | None = None,
                reason: str | None = None, payload: str | None = None,
                received_ms: int | None = None) -> None:
        """One journal row; `received_ms` is when its bytes arrived (now if not given)."""
        received = now_ms() if received_ms is None else received_ms
        text = _TEXT[outcome]
        if update is not None:
            self.events.append((seq, received, epoch, source, update.order_id, update.state,
                                amount_text(update.filled_size), update.update_time,
                                text, None, None))
        else:
            self.events.append((seq, received, epoch, source, order_id, None, None, None,
                                text, reason, payload))
        self.counts[text] += 1

    def order(self, row: OrderUpdate, seq: int, unresolved: bool,
              changed_ms: int | None = None) -> None:
        self.orders[row.order_id] = (row, seq, unresolved,
                                     now_ms() if changed_ms is None else changed_ms)


@dataclass
class Loaded:
    rows: list[OrderUpdate]  # the HELD ones
    unresolved: set[str]
    last_seq: dict[str, int]  # journal seq of the update each row shows
    state: dict[str, Any]
    gone: Gone = field(default_factory=Gone)  # the ids of every other order it holds
