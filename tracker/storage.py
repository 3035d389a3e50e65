"""One writer's book (`BookStore`), with everything about writing it that does not depend on
the database; what it writes and reads back at a start is `tracker.batch`'s.

The session fills batches and the driver hands them to whichever store is open, so the
decisions never depend on SQL. `tracker.sqlite.store` and `tracker.postgres.store` are the
two backends: each adds its own connection, transaction, recall and retention, and says its
own errors.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from prometheus_client import Histogram

from tracker.batch import COUNTERS, Batch, Loaded, now_ms
from tracker.book import Gone
from tracker.codec import OPEN_STATES, OrderUpdate, amount_text
from tracker.reasons import NotLive

# The contract's columns, in the order the writers bind them, on both backends.
ORDER_COLUMNS = ("order_id", "symbol", "side", "type", "price", "size", "filled_size",
                 "filled_notional", "state", "client_order_id", "created_at", "updated_at",
                 "source", "unresolved", "changed_at", "last_seq")
MARKET_COLUMNS = ("venue", "symbol", "base", "quote")  # and unified_symbol, made from them
# A market's row changes only where the venue lists it otherwise now: one listed as before
# is not written again (no WAL page, no row lock held to the end of the batch).
MARKET_CHANGED = ("ON CONFLICT (venue, symbol) DO UPDATE SET base = excluded.base, "
                  "quote = excluded.quote, unified_symbol = excluded.unified_symbol "
                  "WHERE markets.base <> excluded.base OR markets.quote <> excluded.quote")
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
                           "not_live_reason", "venue", "key_fingerprint", "symbols"})
DAY_MS = 86_400_000
# Journal retention deletes in short transactions (a few ms each), so the writer never
# holds its lock long enough for pushes to queue; a backlog drains a chunk a second.
PRUNE_CHUNK = 5000
PRUNE_AGAIN_SECONDS = 1.0
PRUNE_IDLE_SECONDS = 60.0


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
    """The order rows' parameters (ORDER_COLUMNS), made one at a time as they are bound."""
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


@dataclass(frozen=True)
class Gauges:
    """How the store is doing, for the metrics endpoint."""

    wal_bytes: int  # the write-ahead log's size, where the backend has one (else 0)
    wal_restarts: int
    journal_pruned: int
    # The SQLite change feed's readers now, and their connections it ended, by why.
    feed_readers: int = 0
    feed_closed: Mapping[str, int] = field(default_factory=dict)


class BookStore(ABC):
    """One writer's book, and what writing it is on any database. Seqs are handed out here
    (`take_seq`), in order and never twice, because only the store knows where numbering
    may resume after a restart or a replaced book.

    Each backend adds its connection, its transaction (`commit`), `recall`, retention's
    deletes (`prune`) and the words of its errors (`said`). It names its parameter mark
    (`MARK`) and its rows (`scope` and `scope_args` start a condition, `state_row` is its
    row of `sync_state`: all of an SQLite file, one account of a PostgreSQL database), so
    that the reads written here run on it unchanged."""

    MARK: ClassVar[str]
    # The database's own clock in ms, as SQL, where readers on other hosts compare the
    # heartbeat with it; None: the writer's clock, which an SQLite book's readers share.
    NOW: ClassVar[str | None] = None
    DB_ERRORS: ClassVar[tuple[type[Exception], ...]]  # what its driver raises
    logger: ClassVar[Any]  # the backend's own, which its log lines carry
    scope: str = ""
    scope_args: tuple[Any, ...] = ()
    state_row: str

    def __init__(self, keep_days: float) -> None:
        self.book_id = ""
        self.next_seq = 1
        self.committed_seq = 0  # the highest seq committed: rows written up to it can be read
        self.committed_at = time.monotonic()  # the last commit: the writer's pulse
        # Why nothing more may be written here (replaced, fenced), once it is so; `replaced`
        # is set then too, for whoever waits for it.
        self.lost: str | None = None
        self.replaced = asyncio.Event()
        # Set with `lost` when no turn of this tracker can write the book (a book a newer
        # tracker migrated): the daemon raises it, and exits, rather than wait as a standby.
        self.refused: Exception | None = None
        self.keep_ms = int(keep_days * DAY_MS)  # 0: the journal keeps every row
        # Idle checks come at a tenth of the retention (a minute at most): no row outlives
        # it by more than a tenth.
        self.prune_idle = min(PRUNE_IDLE_SECONDS, max(PRUNE_AGAIN_SECONDS,
                                                      self.keep_ms / 10_000))
        self.prune_due = 0.0
        self.pruned = 0
        self.commit_seconds = Histogram(
            "tracker_db_commit_seconds", "time of one batch transaction", registry=None,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))

    @property
    def not_writable_reason(self) -> NotLive:
        """Why the book is not current while no commit lands (the writer cannot say it in
        the book, so the daemon says it, and readers infer it): unwritable, unless the
        backend knows its server is out of reach."""
        return NotLive.DATABASE_UNWRITABLE

    @property
    def not_writable_detail(self) -> str | None:
        """The database's own words on why it cannot be reached, where it has a server."""
        return None

    @abstractmethod
    def stop_by(self, deadline: float) -> None:
        """A stop was asked for: a commit still running at `deadline` (monotonic) fails
        then, so that a database that does not answer cannot keep the process alive."""

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    async def load(self) -> Loaded:
        """The book as the database holds it: the held rows whole, the closed orders' ids."""
        rows = await self._rows(f"SELECT * FROM orders WHERE {self.scope}{HELD}",
                                self.scope_args)
        states = await self._rows(f"SELECT * FROM sync_state WHERE {self.state_row}",
                                  self.scope_args)
        assert states  # made by the first migration, or by the backend's start
        return Loaded([row_from_db(r) for r in rows],
                      {r["order_id"] for r in rows if r["unresolved"]},
                      {r["order_id"]: r["last_seq"] for r in rows}, dict(states[0]),
                      await self._gone())

    async def _gone(self) -> Gone:
        (found,) = await self._rows(
            f"SELECT count(*) AS n FROM orders WHERE {self.scope}NOT {HELD}", self.scope_args)

        async def after(last: str) -> list[str]:
            rows = await self._rows(
                f"SELECT order_id FROM orders WHERE {self.scope}order_id > {self.MARK} "
                f"AND NOT {HELD} ORDER BY order_id LIMIT {self.MARK}",
                (*self.scope_args, last, GONE_CHUNK))
            return [r["order_id"] for r in rows]

        return await gone_ids(found["n"], after)

    @abstractmethod
    async def _rows(self, sql: str, args: Sequence[Any]) -> Sequence[Mapping[str, Any]]:
        """The rows of one query on the writer's connection, by column name."""

    @staticmethod
    def _refuse_unknown(batch: Batch) -> None:
        unknown = batch.state.keys() - STATE_COLUMNS
        if unknown:
            raise ValueError(f"unknown sync_state columns: {sorted(unknown)}")

    def _state_set(self, batch: Batch) -> tuple[str, list[Any]]:
        """The SET clause of the batch's `sync_state` update, and its values: the batch's
        columns, the heartbeat (`NOW`, or this process's clock where the backend has
        none), and each outcome counter raised by the batch's count."""
        state = {k: v for k, v in batch.state.items() if k != "heartbeat_at"}
        stamp = [] if self.NOW else [now_ms()]  # a value only where the SQL has no clock
        sets = ([f"{k} = {self.MARK}" for k in state]
                + [f"heartbeat_at = {self.NOW or self.MARK}"]
                + [f"{c} = {c} + {self.MARK}" for c in COUNTERS])
        return ", ".join(sets), [*state.values(), *stamp,
                                 *(batch.counts[c] for c in COUNTERS)]

    def _committed(self, batch: Batch, started: float) -> None:
        """The batch is in the book: the pulse, the commit's time, the highest seq."""
        self.committed_at = time.monotonic()
        self.commit_seconds.observe(self.committed_at - started)
        if batch.events:
            self.committed_seq = batch.events[-1][0]  # seqs are taken, and journaled, in order

    async def _retain(self) -> None:
        """Journal retention after a commit, when due: a chunk, and the next one soon while
        chunks come whole. The batch is committed already: a failure here is logged, and
        must not make the caller retry it."""
        if not self.keep_ms or self.committed_at < self.prune_due:
            return
        try:
            full = await self.prune(now_ms() - self.keep_ms)
        except self.DB_ERRORS as exc:
            self.logger.warning("journal_prune_failed", error=self.said(exc))
            full = False
        self.prune_due = self.committed_at + (PRUNE_AGAIN_SECONDS if full else self.prune_idle)

    def said(self, exc: Exception) -> str:
        """The driver's message as a log line may show it."""
        return str(exc)

    @abstractmethod
    async def commit(self, batch: Batch) -> None:
        """One transaction: all of the batch or none of it, raising on failure."""

    @abstractmethod
    async def recall(self, order_ids: list[str]) -> list[tuple[OrderUpdate, int]]:
        """The rows (and their `last_seq`) of those of these orders the book holds."""

    @abstractmethod
    async def prune(self, before_ms: int) -> bool:
        """Delete the oldest journal rows received before `before_ms`, at most PRUNE_CHUNK,
        from the low end only; True when a whole chunk went, so there may be more."""

    @abstractmethod
    def gauges(self) -> Gauges: ...

    @abstractmethod
    async def close(self) -> None: ...
