"""The SQLite book: one writer connection, one transaction per batch, WAL for readers.

Readers (other processes) open `file:PATH?mode=ro` and never block this writer. The
writer's work runs on aiosqlite's own thread, so a large batch never stalls the event loop
that keeps the WebSocket alive.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite
import structlog
from prometheus_client import Histogram

from tracker import migrate
from tracker.book import Outcome
from tracker.codec import OrderUpdate

ORDER_COLUMNS = ("order_id", "symbol", "side", "type", "price", "size", "filled_size",
                 "filled_notional", "state", "client_order_id", "created_at", "updated_at",
                 "source", "unresolved", "changed_at", "last_seq")
UPSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(ORDER_COLUMNS))}) "
    "ON CONFLICT (order_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ORDER_COLUMNS[1:])
)
EVENT_COLUMNS = ("seq", "received_at", "epoch", "source", "order_id", "state", "filled_size",
                 "update_time", "outcome", "reason", "payload")
INSERT_EVENT = (f"INSERT INTO order_events ({', '.join(EVENT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})")
STATE_COLUMNS = frozenset({"live", "epoch", "status", "api", "pid", "started_at",
                           "heartbeat_at", "live_since", "last_event_at", "last_seed_at",
                           "last_seed_orders", "reconnects", "splices", "unresolved"})
COUNTERS = tuple(o.value for o in Outcome)
# Past this size the writer forces the WAL back to its start. SQLite's own passive
# checkpoints cannot restart the log while readers hold snapshots in it, which with a few
# busy readers is nearly always; so the WAL would grow with the run instead of staying put.
WAL_LIMIT = 8 * 2**20
WAL_CHECK_SECONDS = 1.0
log = structlog.get_logger("tracker.store")
# Journal retention deletes in short transactions (a few ms each), so the writer never
# holds its lock long enough for pushes to queue; a backlog drains a chunk a second.
PRUNE_CHUNK = 5000
PRUNE_IDLE_SECONDS = 60.0
DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass
class Batch:
    """Everything one transaction writes: journal rows, order rows, sync_state changes."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    # (row, journal seq, unresolved, changed_at): turned into SQL parameters one at a time
    # as the writer thread binds them, so a splice of 100,000 orders never holds 100,000
    # formatted copies beside the book's own rows.
    orders: dict[str, tuple[OrderUpdate, int, bool, int]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))

    def __bool__(self) -> bool:
        return bool(self.events or self.orders or self.state)

    def journal(self, seq: int, epoch: int, source: str, outcome: Outcome,
                update: OrderUpdate | None = None, *, order_id: str | None = None,
                reason: str | None = None, payload: str | None = None) -> None:
        received = now_ms()
        if update is not None:
            self.events.append((seq, received, epoch, source, update.order_id, update.state,
                                str(update.filled_size), update.update_time, outcome.value,
                                None, None))
        else:
            self.events.append((seq, received, epoch, source, order_id, None, None, None,
                                outcome.value, reason, payload))
        self.counts[outcome.value] += 1

    def order(self, row: OrderUpdate, seq: int, unresolved: bool) -> None:
        self.orders[row.order_id] = (row, seq, unresolved, now_ms())

    def order_params(self) -> Iterator[tuple[Any, ...]]:
        """UPSERT_ORDER's parameters, made one at a time as they are bound."""
        return map(_order_params, list(self.orders.values()))


def _order_params(entry: tuple[OrderUpdate, int, bool, int]) -> tuple[Any, ...]:
    row, seq, unresolved, changed_at = entry
    return (row.order_id, row.symbol, row.side, row.type, str(row.price), str(row.size),
            str(row.filled_size), _text(row.filled_notional), row.state, row.client_order_id,
            row.create_time, row.update_time, row.source, int(unresolved), changed_at, seq)


@dataclass
class Loaded:
    rows: list[OrderUpdate]
    unresolved: set[str]
    last_seq: dict[str, int]  # journal seq of the update each row shows
    state: dict[str, Any]


def row_from_db(r: sqlite3.Row) -> OrderUpdate:
    return OrderUpdate(
        order_id=r["order_id"], symbol=r["symbol"], side=r["side"], state=r["state"],
        price=Decimal(r["price"]), size=Decimal(r["size"]),
        filled_size=Decimal(r["filled_size"]), source=r["source"], type=r["type"],
        filled_notional=None if r["filled_notional"] is None else Decimal(
            r["filled_notional"]),
        client_order_id=r["client_order_id"], create_time=r["created_at"],
        update_time=r["updated_at"])


def connect_migrated(path: Path) -> None:
    """Create the file if needed (without world access), set WAL, and migrate."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = os.umask(0o027)
    try:
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            migrate.apply(conn)
        finally:
            conn.close()
    finally:
        os.umask(old)


class Store:
    def __init__(self, conn: aiosqlite.Connection, path: Path, keep_days: float = 0) -> None:
        self.conn = conn
        self.path = path
        self.keep_ms = int(keep_days * DAY_MS)  # 0: the journal keeps every row
        # Idle checks come at a tenth of the retention (a minute at most): no row outlives
        # it by more than a tenth.
        self.prune_idle = min(PRUNE_IDLE_SECONDS, max(WAL_CHECK_SECONDS, self.keep_ms / 10_000))
        self.prune_due = 0.0
        self.pruned = 0
        self.next_seq = 1
        self.committed_at = time.monotonic()  # the writer's pulse, for the watchdog
        self.wal_checked_at = 0.0
        self.wal_restarts = 0
        self.commit_seconds = Histogram(
            "tracker_db_commit_seconds", "time of one batch transaction", registry=None,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))

    @classmethod
    async def open(cls, path: Path, keep_days: float = 0) -> Store:
        connect_migrated(path)
        # sqlite3 opens a BEGIN IMMEDIATE itself before a batch's first write: one thread
        # round trip fewer per batch than sending the BEGIN, which latency feels.
        conn = await aiosqlite.connect(path, isolation_level="IMMEDIATE")
        conn.row_factory = sqlite3.Row
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000",
                       f"journal_size_limit={WAL_LIMIT}"):
            await conn.execute(f"PRAGMA {pragma}")
        store = cls(conn, path, keep_days)
        # sqlite_sequence remembers the highest seq ever used, even once retention has
        # deleted it: a consumer tailing `seq > ?` never sees a number twice.
        async with conn.execute(
                "SELECT MAX(COALESCE((SELECT MAX(seq) FROM order_events), 0), COALESCE("
                "(SELECT seq FROM sqlite_sequence WHERE name = 'order_events'), 0))") as cur:
            row = await cur.fetchone()
            store.next_seq = (row[0] if row else 0) + 1
        return store

    async def close(self) -> None:
        await self.conn.close()

    async def load(self) -> Loaded:
        """The book as the file holds it."""
        async with self.conn.execute("SELECT * FROM orders") as cur:
            rows = await cur.fetchall()
        async with self.conn.execute("SELECT * FROM sync_state WHERE id = 1") as cur:
            state = await cur.fetchone()
        assert state is not None  # inserted by the first migration
        return Loaded([row_from_db(r) for r in rows],
                      {r["order_id"] for r in rows if r["unresolved"]},
                      {r["order_id"]: r["last_seq"] for r in rows}, dict(state))

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    async def commit(self, batch: Batch) -> None:
        """One transaction. On failure it rolls back and raises; the caller decides."""
        unknown = batch.state.keys() - STATE_COLUMNS
        if unknown:
            raise ValueError(f"unknown sync_state columns: {sorted(unknown)}")
        state = dict(batch.state, heartbeat_at=now_ms())
        sets = [f"{k} = ?" for k in state] + [f"{c} = {c} + ?" for c in COUNTERS]
        values = [*state.values(), *(batch.counts[c] for c in COUNTERS)]
        started = time.monotonic()
        try:
            if batch.events:
                await self.conn.executemany(INSERT_EVENT, batch.events)
            if batch.orders:
                await self.conn.executemany(UPSERT_ORDER, batch.order_params())
            await self.conn.execute(f"UPDATE sync_state SET {', '.join(sets)} WHERE id = 1",
                                    values)
            await self.conn.commit()
            self.committed_at = time.monotonic()
            self.commit_seconds.observe(self.committed_at - started)
        except BaseException:
            await self.conn.rollback()
            raise
        if self.committed_at - self.wal_checked_at >= WAL_CHECK_SECONDS:
            self.wal_checked_at = self.committed_at
            await self._bound_wal()
        if self.keep_ms and self.committed_at >= self.prune_due:
            # The batch is committed: a failure here must not make the caller retry it.
            try:
                full = await self.prune(now_ms() - self.keep_ms)
            except sqlite3.Error as exc:
                log.warning("journal_prune_failed", error=str(exc))
                full = False
            self.prune_due = self.committed_at + (WAL_CHECK_SECONDS if full
                                                  else self.prune_idle)

    async def prune(self, before_ms: int) -> bool:
        """Delete the oldest journal rows received before `before_ms`, at most one chunk,
        in seq order: the journal stays a contiguous run of seqs, so a consumer that finds
        its last seq below MIN(seq) knows it missed rows. A row stamped after the cutoff
        (a clock set back) stops the run until it too is old. True when a whole chunk went,
        so there may be more."""
        try:
            async with self.conn.execute("SELECT MIN(seq) FROM order_events") as cur:
                row = await cur.fetchone()
            if row is None or row[0] is None:
                return False
            low = row[0]
            async with self.conn.execute(
                    "SELECT MIN(seq) FROM order_events WHERE seq >= ? AND seq < ? "
                    "AND received_at >= ?", (low, low + PRUNE_CHUNK, before_ms)) as cur:
                row = await cur.fetchone()
            stop = low + PRUNE_CHUNK if row is None or row[0] is None else row[0]
            async with self.conn.execute("DELETE FROM order_events WHERE seq >= ? AND seq < ?",
                                         (low, stop)) as cur:
                deleted = cur.rowcount
            await self.conn.commit()
        except BaseException:
            await self.conn.rollback()
            raise
        self.pruned += deleted
        return deleted == PRUNE_CHUNK

    async def _bound_wal(self) -> None:
        """Checkpoint everything and wait, briefly, for readers to leave the WAL, so that the
        next write starts it afresh (and truncates the file to WAL_LIMIT). Readers that keep
        their reads short, as the README asks, leave within milliseconds; one that holds a
        transaction open only delays this until a later try."""
        try:
            size = os.stat(f"{self.path}-wal").st_size
        except FileNotFoundError:
            return
        if size < WAL_LIMIT:
            return
        await self.conn.execute("PRAGMA busy_timeout=100")
        try:
            async with self.conn.execute("PRAGMA wal_checkpoint(RESTART)") as cur:
                row = await cur.fetchone()
        finally:
            await self.conn.execute("PRAGMA busy_timeout=5000")
        if row is not None and row[0] == 0:
            self.wal_restarts += 1
