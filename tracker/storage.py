"""The book's storage interface: what one transaction writes (`Batch`), what a start reads
back (`Loaded`), and the operations every backend provides (`BookStore`).

The session fills batches and the driver hands them to whichever store is open, so the
decisions never depend on SQL; `tracker.store` is the SQLite backend, and a second one
(PostgreSQL) implements the same protocol.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from prometheus_client.registry import Collector

from tracker.book import Gone, Outcome
from tracker.codec import OPEN_STATES, OrderUpdate, amount_text

COUNTERS = tuple(o.value for o in Outcome)
# The contract's columns, in the order the writers bind them, on both backends.
ORDER_COLUMNS = ("order_id", "symbol", "side", "type", "price", "size", "filled_size",
                 "filled_notional", "state", "client_order_id", "created_at", "updated_at",
                 "source", "unresolved", "changed_at", "last_seq")
EVENT_COLUMNS = ("seq", "received_at", "epoch", "source", "order_id", "state", "filled_size",
                 "update_time", "outcome", "reason", "payload")
# The rows a start holds in memory: the open orders, and any whose fate is being asked
# about. Every other row is a closed order, read back only when the exchange speaks of it.
HELD = (f"(state IN ({', '.join(repr(s) for s in sorted(OPEN_STATES))}) "
        "OR unresolved = 1)")
GONE_CHUNK = 50_000  # closed orders' ids read at a time at a start, into the Gone filter
STATE_COLUMNS = frozenset({"live", "epoch", "status", "api", "pid", "started_at",
                           "heartbeat_at", "live_since", "last_event_at", "last_seed_at",
                           "last_seed_orders", "reconnects", "splices", "unresolved",
                           "not_live_reason"})


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

    def __bool__(self) -> bool:
        return bool(self.events or self.orders or self.state)

    def journal(self, seq: int, epoch: int, source: str, outcome: Outcome,
                update: OrderUpdate | None = None, *, order_id: str | None = None,
                reason: str | None = None, payload: str | None = None,
                received_ms: int | None = None) -> None:
        """One journal row; `received_ms` is when its bytes arrived (now if not given)."""
        received = now_ms() if received_ms is None else received_ms
        if update is not None:
            self.events.append((seq, received, epoch, source, update.order_id, update.state,
                                amount_text(update.filled_size), update.update_time,
                                outcome.value, None, None))
        else:
            self.events.append((seq, received, epoch, source, order_id, None, None, None,
                                outcome.value, reason, payload))
        self.counts[outcome.value] += 1

    def order(self, row: OrderUpdate, seq: int, unresolved: bool,
              changed_ms: int | None = None) -> None:
        self.orders[row.order_id] = (row, seq, unresolved,
                                     now_ms() if changed_ms is None else changed_ms)


async def gone_ids(count: int, after: Callable[[str], Awaitable[list[str]]]) -> Gone:
    """The closed orders' ids into a Gone filter sized for `count`, read GONE_CHUNK at a
    time in key order (`after(last key)`): ten million of them never sit in one list."""
    gone, last = Gone(count), ""
    while True:
        ids = await after(last)
        for oid in ids:
            gone.add(oid)
        if len(ids) < GONE_CHUNK:
            return gone
        last = ids[-1]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else amount_text(value)


def order_params(batch: Batch) -> Iterator[tuple[Any, ...]]:
    """UPSERT_ORDER's parameters, made one at a time as they are bound."""
    return map(_order_params, list(batch.orders.values()))


def _order_params(entry: tuple[OrderUpdate, int, bool, int]) -> tuple[Any, ...]:
    row, seq, unresolved, changed_at = entry
    return (row.order_id, row.symbol, row.side, row.type, amount_text(row.price),
            amount_text(row.size), amount_text(row.filled_size), _text(row.filled_notional),
            row.state, row.client_order_id,
            row.create_time, row.update_time, row.source, int(unresolved), changed_at, seq)


def row_from_db(r: Mapping[str, Any]) -> OrderUpdate:
    """An `orders` row as either backend returns it (by column name)."""
    return OrderUpdate(
        order_id=r["order_id"], symbol=r["symbol"], side=r["side"], state=r["state"],
        price=Decimal(r["price"]), size=Decimal(r["size"]),
        filled_size=Decimal(r["filled_size"]), source=r["source"], type=r["type"],
        filled_notional=None if r["filled_notional"] is None else Decimal(
            r["filled_notional"]),
        client_order_id=r["client_order_id"], create_time=r["created_at"],
        update_time=r["updated_at"])


@dataclass
class Loaded:
    rows: list[OrderUpdate]  # the HELD ones
    unresolved: set[str]
    last_seq: dict[str, int]  # journal seq of the update each row shows
    state: dict[str, Any]
    gone: Gone = field(default_factory=Gone)  # the ids of every other order it holds


@dataclass(frozen=True)
class Gauges:
    """How the store is doing, for the metrics endpoint."""

    wal_bytes: int  # the write-ahead log's size, where the backend has one (else 0)
    wal_restarts: int
    journal_pruned: int


class BookStore(Protocol):
    """One writer's book. Seqs are handed out here (`take_seq`), in order and never twice,
    because only the store knows where numbering may resume after a restart or a
    replaced book."""

    book_id: str
    next_seq: int
    committed_seq: int  # the highest seq committed: rows written up to it can be read back
    committed_at: float  # monotonic time of the last commit: the writer's pulse
    lost: str | None  # why nothing more may be written here (replaced, fenced), once it is so
    unreachable: str | None  # why a database server cannot be reached, while it cannot
    # Monotonic time by which a commit in flight gives up, set by a stop. SQLite needs none:
    # its one lock wait (5 s) bounds every commit already.
    give_up_at: float | None
    replaced: asyncio.Event  # set when `lost` is
    commit_seconds: Collector  # the time of one batch transaction, a histogram

    async def load(self) -> Loaded: ...

    def take_seq(self) -> int: ...

    async def commit(self, batch: Batch) -> None:
        """One transaction: all of the batch or none of it, raising on failure."""

    async def recall(self, order_ids: list[str]) -> list[tuple[OrderUpdate, int]]:
        """The rows (and their `last_seq`) of those of these orders the book holds."""

    async def prune(self, before_ms: int) -> bool: ...

    def gauges(self) -> Gauges: ...

    async def close(self) -> None: ...
