"""The splice and the live loop: the one place where the book changes.

One consumer task owns the book. Everything else (the stream, the seed, the order-detail
resolver, timers) only posts events to its queue, so the book changes in one order, and
each batch of changes is one SQLite transaction (group commit: whatever queued up while
the last commit was in flight goes into the next one).

A splice (at start, after every reconnect, and periodically) buffers pushes while the seed
is read, then applies snapshot and buffer in one transaction and marks the book live. Open
orders the snapshot lacks and that nothing has touched since the seed began have
*vanished*: the resolver asks the exchange for their real fate after a grace period, and
until it knows, the order stays visible, flagged unresolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from tracker import codec
from tracker.book import Book, Outcome
from tracker.codec import OPEN_STATES, Invalid, OrderUpdate
from tracker.config import Config
from tracker.exchange import errors
from tracker.exchange.errors import ExchangeError, NotFound
from tracker.exchange.rest import RestApi, Seed
from tracker.exchange.stream import DISCONNECTED, Bad, Down, Event, Push, Stream, Up
from tracker.logs import scrub_text
from tracker.store import Batch, Store, now_ms

log = structlog.get_logger("tracker.sync")

PAYLOAD_LIMIT = 4096
DRAIN_LIMIT = 10_000  # events folded into one transaction at most
# The writer commits at least once a second (the ticker): a book whose last commit is older
# than this is not current, whatever `live` says, because the writer is stuck.
STALE_AFTER_SECONDS = 5.0
UNWRITABLE = "database_unwritable"
# sync_state.not_live_reason, and how the status line says it.
NOT_LIVE = {
    "starting": "starting",
    "splicing": "splicing",
    errors.CREDENTIALS: "credentials refused",
    errors.UNREACHABLE: "exchange unreachable",
    errors.RATE_LIMITED: "rate limited",
    errors.CLOCK: "clock skew",
    errors.EXCHANGE: "exchange error",
    DISCONNECTED: "disconnected",
    UNWRITABLE: "database unwritable",
    "queue_overflow": "events dropped",
    "stopped": "stopped",
}


@dataclass(frozen=True)
class SeedBegin:
    token: int


@dataclass
class Decoded:
    """One symbol's seed, decoded as soon as it is read: a large seed then never holds its
    raw rows (several times the size of the decoded ones) all at once."""

    updates: list[OrderUpdate] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (reason, excerpt)
    uncertain: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, seed: Seed, parse: Callable[[Any, str], OrderUpdate], source: str) -> Decoded:
        decoded = cls(uncertain={str(r.get("entrust_id")) for r in seed.uncertain
                                 if isinstance(r, dict)})
        for raw in seed.rows:
            try:
                decoded.updates.append(parse(raw, source))
            except Invalid as exc:
                decoded.invalid.append((str(exc), _excerpt(raw)))
        return decoded


@dataclass(frozen=True)
class Seeded:
    token: int
    seeds: list[Decoded]
    source: str


@dataclass(frozen=True)
class SeedFailed:
    token: int
    reason: str
    cause: str = errors.EXCHANGE  # one of NOT_LIVE's keys


@dataclass(frozen=True)
class SeedProgress:
    token: int
    text: str


@dataclass(frozen=True)
class Detail:
    order_id: str
    row: dict[str, Any] | None
    error: str | None  # None with no row: the exchange does not know the order


@dataclass(frozen=True)
class Tick:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Overflow:
    """Events were dropped because the writer fell `queue_max` behind: the book missed
    them, so it is not live until a new splice."""


Item = Event | SeedBegin | Seeded | SeedFailed | SeedProgress | Detail | Tick | Stop | Overflow
# What a full queue may shed: each is either re-learnt by the next splice (pushes, bad frames,
# which the stream counts as it reads them) or made again (ticks, progress notes).
SHEDDABLE = (Push, Bad, Tick, SeedProgress)


class EventQueue(asyncio.Queue[Item]):
    """The consumer's queue, bounded for what arrives faster than a stalled writer takes it.

    Past `limit` items it drops every sheddable event it holds and queues one `Overflow`, so
    memory stays flat during a write stall however long it lasts, and the events that decide
    the book's state (connects, disconnects, seed answers, stop) are never lost.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.dropped = 0  # events shed since the start
        self.overflowing = False  # an Overflow is queued and not yet taken

    def put_nowait(self, item: Item) -> None:
        if self.qsize() >= self.limit and isinstance(item, SHEDDABLE):
            self.dropped += 1
            self._shed()
            return
        super().put_nowait(item)

    def _shed(self) -> None:
        kept: list[Item] = []
        while not self.empty():
            item = super().get_nowait()
            if isinstance(item, SHEDDABLE):
                self.dropped += 1
            else:
                kept.append(item)
        if not self.overflowing:
            # First in line: a splice whose buffer lost pushes must not complete, and the
            # consumer takes this before any seed answer still queued (it starts a new seed).
            self.overflowing = True
            kept.insert(0, Overflow())
        for item in kept:
            super().put_nowait(item)


@dataclass
class Resolution:
    due: float
    attempts: int = 0
    unknown_since: float | None = None  # first "not found" (monotonic seconds)


@dataclass
class Status:
    """What the outside world (status line, metrics, systemd) wants to know."""

    mode: str = "starting"  # starting | splicing | live | reconnecting | stopped
    text: str = "starting"
    connected: bool = False
    open_orders: int = 0
    counts: Counter[str] = field(default_factory=Counter)


class Tracker:
    def __init__(self, config: Config, store: Store, rest: RestApi) -> None:
        self.config = config
        self.store = store
        self.rest = rest
        self.queue = EventQueue(config.queue_max)
        symbols = None if config.all_symbols else list(config.symbols or ())
        self.stream = Stream(config.ws_url, config.credentials, symbols,
                             self.queue,  # type: ignore[arg-type]
                             ping_interval=config.ping_interval,
                             silence_timeout=config.silence_timeout,
                             backoff_initial=config.backoff_initial,
                             backoff_max=config.backoff_max,
                             auth_backoff=config.auth_backoff, max_frame=config.max_frame)
        self.stream.measure_skew = self._measure_skew
        self.seed_source = "seed_v2" if config.api == "v2" else "seed_v4"
        self.detail_source = "detail_v2" if config.api == "v2" else "detail_v4"
        self.parse_rest = codec.from_v2 if config.api == "v2" else codec.from_v4
        self.book = Book()
        self.last_seq: dict[str, int] = {}
        self.unresolved: set[str] = set()
        self.pending: dict[str, Resolution] = {}
        self.epoch = 0
        self.live = False
        self.buffer: list[Push] | None = None
        self.seed_token = 0
        self.seed_task: asyncio.Task[None] | None = None
        self.seed_began_seq = 0
        self.seed_failures = 0
        self.last_seed_failure = ""
        self.seed_failure_cause = errors.EXCHANGE
        self.reason: str | None = "starting"  # why not live; None while live
        self.splices = 0
        self.last_event_ms: int | None = None
        self.last_seed_ms: int | None = None
        self.spliced_at = 0.0  # monotonic time of the last completed splice
        self.status = Status()
        self.listeners: list[Callable[[Status], None]] = []
        self.seed_deadlines = 0  # seeds abandoned at seed_timeout
        self.unwritten = 0  # journal rows a stop could not write (the book is behind by them)
        self.stop_deadline: float | None = None  # monotonic; set by stop()
        c = config.credentials
        # Exchange-originated text is journaled: anything hostile that echoes our credentials
        # must not carry them into the book (raw, or hex as a binary frame is excerpted).
        self.secrets = tuple(v for s in (c.api_key, c.secret, c.memo) if len(s) >= 4
                             for v in (s, s.encode().hex()))

    # -- lifecycle -------------------------------------------------------------------

    async def load(self) -> None:
        loaded = await self.store.load()
        self.book = Book(loaded.rows)
        self.last_seq = loaded.last_seq
        self.unresolved = loaded.unresolved
        self.epoch = loaded.state["epoch"]
        self.splices = loaded.state["splices"]
        soon = time.monotonic() + self.config.grace_period
        self.pending = {oid: Resolution(soon) for oid in self.unresolved}
        self.status.open_orders = self.book.open_count()
        await self.store.commit(self._batch(live=0, status="starting", pid=os.getpid(),
                                            started_at=now_ms(), api=self.config.api,
                                            not_live_reason="starting"))

    async def run(self) -> None:
        """Until `stop()`: the stream, the consumer, the resolver and the timers."""
        tasks = [asyncio.create_task(self.stream.run(), name="stream"),
                 asyncio.create_task(self._resolver(), name="resolver"),
                 asyncio.create_task(self._ticker(), name="ticker")]
        consumer = asyncio.create_task(self._consume(), name="consumer")
        try:
            done, _ = await asyncio.wait([consumer, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a helper that ended raises here; the consumer just returns
        finally:
            for task in [consumer, *tasks, *([self.seed_task] if self.seed_task else [])]:
                task.cancel()
            for task in [consumer, *tasks]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def stop(self) -> None:
        """Drain and write what is queued, within `stop_timeout`: a book that cannot be
        written (disk full, locked) must not keep the process from exiting."""
        if self.stop_deadline is None:
            self.stop_deadline = time.monotonic() + self.config.stop_timeout
        self.queue.put_nowait(Stop())

    @property
    def current(self) -> bool:
        """Live, and the writer committed recently: what a reader sees is current."""
        return self.live and time.monotonic() - self.store.committed_at < STALE_AFTER_SECONDS

    async def _measure_skew(self) -> int:
        await self.rest.sync_clock()
        return self.rest.skew_ms

    # -- the consumer ----------------------------------------------------------------

    async def _consume(self) -> None:
        """Fold what queued up into one batch; while the writer thread commits it, fold the
        next. One commit in flight at most, so batches land in order, each whole."""
        writing: asyncio.Task[None] | None = None
        while True:
            items = [await self.queue.get()]
            while len(items) < DRAIN_LIMIT and not self.queue.empty():
                items.append(self.queue.get_nowait())
            batch = Batch()
            stopping = False
            for item in items:
                if isinstance(item, Stop):
                    stopping = True
                    continue
                self._handle(item, batch)
            if stopping:
                self._not_live(batch, "stopped")
                self.live = False
            if writing is not None:
                await writing
            writing = asyncio.create_task(self._commit(batch), name="commit")
            if stopping:
                await writing
                if self.unwritten:
                    log.error("stop_unwritten", journal_rows=self.unwritten,
                              reason=f"the book could not be written within stop_timeout "
                                     f"({self.config.stop_timeout:g} s); what it lacks is "
                                     "read from the exchange again at the next start")
                self.status.mode = self.status.text = "stopped"
                self._notify()
                return

    async def _commit(self, batch: Batch) -> None:
        """Retry until the batch is written (the disk, not the exchange, failed: keep the
        batch); once a stop has been asked for, only until its deadline."""
        delay = 0.1
        while True:
            if self.stop_deadline is not None and time.monotonic() >= self.stop_deadline:
                self.unwritten += len(batch.events)
                return
            try:
                await self.store.commit(batch)
                break
            except Exception as exc:
                pause = delay
                if self.stop_deadline is not None:
                    pause = max(0.0, min(delay, self.stop_deadline - time.monotonic()))
                log.error("commit_failed", error=str(exc), retry_in_s=round(pause, 2))
                await asyncio.sleep(pause)
                delay = min(delay * 2, 5.0)
        self._publish(batch)

    def _handle(self, item: Item, batch: Batch) -> None:
        match item:
            case Push():
                if self.buffer is not None:
                    self.buffer.append(item)
                else:
                    self._apply_push(item, batch)
            case Up(conn):
                self.status.connected = True
                self._begin_seed(delay=0.0, batch=batch)
                log.info("splice_start", conn=conn, reason="connected")
            case Down(_, reason, cause):
                self.status.connected = False
                self._abort_seed(batch)
                self.live = False
                batch.state["reconnects"] = self.stream.reconnects
                self._not_live(batch, cause, f"{reason[:200]} (reconnect attempt "
                                             f"{self.stream.reconnects})")
                log.warning("book_stale", reason=reason, cause=cause)
            case Bad(_, reason, excerpt):
                self._invalid(batch, "push", reason, excerpt)
            case SeedBegin(token) if token == self.seed_token:
                self.buffer = [] if not self.live else None
                self.seed_began_seq = self.store.next_seq
            case SeedProgress(token, text) if token == self.seed_token:
                batch.state["status"] = self._splicing(text)
            case Seeded(token, seeds, source) if token == self.seed_token:
                self._splice(seeds, source, batch)
            case SeedFailed(token, reason, cause) if token == self.seed_token:
                self.seed_failures += 1
                self.seed_failure_cause = cause
                self._flush_buffer(batch)
                delay = min(self.config.backoff_max,
                            self.config.backoff_initial * 2 ** self.seed_failures)
                log.warning("seed_failed", reason=reason, retry_in_s=round(delay, 2))
                self.last_seed_failure = reason[:160]
                self._begin_seed(delay=delay, batch=batch)
            case Detail():
                self._resolved(item, batch)
            case Overflow():
                self._overflowed(batch)
            case Tick():
                batch.state["status"] = self.status.text
                if self._reconcile_due():
                    log.info("splice_start", reason="periodic reconcile")
                    self._begin_seed(delay=0.0, batch=batch)
            case _:
                pass  # an answer to a seed that was superseded

    def _overflowed(self, batch: Batch) -> None:
        """The writer is writing again after falling `queue_max` behind, and the pushes it
        missed are gone: the book is not live until a splice has read the exchange again."""
        self.queue.overflowing = False
        self.live = False
        log.error("queue_overflow", dropped=self.queue.dropped, queue_max=self.config.queue_max)
        self._begin_seed(delay=0.0, batch=batch)
        self._not_live(batch, "queue_overflow", f"{self.queue.dropped} events dropped while "
                                                f"the writer was {self.config.queue_max} "
                                                "behind; splicing again")

    # -- pushes ----------------------------------------------------------------------

    def _apply_push(self, push: Push, batch: Batch) -> None:
        for element in push.data:
            try:
                update = codec.from_push(element)
            except Invalid as exc:
                oid = element.get("order_id") if isinstance(element, dict) else None
                self._invalid(batch, "push", str(exc), _excerpt(element),
                              oid if isinstance(oid, str) and len(oid) <= 64 else None)
                continue
            self._apply(update, batch)
            batch.state["last_event_at"] = self.last_event_ms = push.received_ms

    def _apply(self, update: OrderUpdate, batch: Batch) -> Outcome:
        client = update.client_order_id
        if client is not None and any(s in client for s in self.secrets):
            update = dataclasses.replace(update, client_order_id="***")
        seq = self.store.take_seq()
        oid = update.order_id
        before = self.book.rows.get(oid)
        outcome, row = self.book.apply(update)
        batch.journal(seq, self.epoch, update.source, outcome, update)
        if outcome is Outcome.APPLIED:
            self.last_seq[oid] = seq
            if row.state not in OPEN_STATES:
                self.pending.pop(oid, None)
            self.unresolved.discard(oid)
        if row is not before:  # also a duplicate or stale update that filled a gap
            batch.order(row, self.last_seq.get(oid, seq), oid in self.unresolved)
        return outcome

    def _invalid(self, batch: Batch, source: str, reason: str, payload: str,
                 order_id: str | None = None) -> None:
        reason, payload = scrub_text(reason, self.secrets), scrub_text(payload, self.secrets)
        order_id = None if order_id is None else scrub_text(order_id, self.secrets)
        log.warning("invalid_update", source=source, reason=reason, order_id=order_id)
        batch.journal(self.store.take_seq(), self.epoch, source, Outcome.INVALID,
                      order_id=order_id, reason=reason, payload=payload[:PAYLOAD_LIMIT])

    def _flush_buffer(self, batch: Batch) -> None:
        """Pushes held for a splice that will not happen are still facts: apply them."""
        for push in self.buffer or ():
            self._apply_push(push, batch)
        self.buffer = None

    # -- the splice ------------------------------------------------------------------

    def _begin_seed(self, delay: float, batch: Batch) -> None:
        self._abort_seed(batch)
        self.seed_token += 1
        if not self.live:
            failing = self.seed_failure_cause if self.seed_failures else "splicing"
            self._not_live(batch, failing, self._splicing("reading the open orders"))
            self.status.mode = "splicing"
        self.seed_task = asyncio.create_task(self._seed(self.seed_token, delay), name="seed")

    def _not_live(self, batch: Batch, reason: str, detail: str = "") -> None:
        """Not live, and why: the reason for programs, the words and detail for people."""
        self.reason = reason
        words = NOT_LIVE[reason]
        batch.state.update(live=0, not_live_reason=reason,
                           status=f"{words}: {detail}" if detail else words)

    @property
    def reason_now(self) -> str | None:
        """Why the book is not live at this moment: a writer that cannot commit outranks
        whatever was last written, which it could not write."""
        if self.reason != "stopped" and (
                time.monotonic() - self.store.committed_at >= STALE_AFTER_SECONDS):
            return UNWRITABLE
        return None if self.live else self.reason

    def _splicing(self, text: str) -> str:
        """While a seed is retried, why the last one failed stays in view."""
        if self.seed_failures and self.last_seed_failure:
            return f"{text}; the last seed failed: {self.last_seed_failure}"
        return text

    def _abort_seed(self, batch: Batch) -> None:
        if self.seed_task is not None and not self.seed_task.done():
            self.seed_task.cancel()
        self.seed_token += 1
        self._flush_buffer(batch)

    async def _seed(self, token: int, delay: float) -> None:
        """Runs beside the consumer: it only reads REST and posts what it found."""
        if delay:
            await asyncio.sleep(delay)
        self.queue.put_nowait(SeedBegin(token))
        last_note = 0.0

        def progress(symbol: str, rows: int, total: int) -> None:
            nonlocal last_note
            if time.monotonic() - last_note >= 1.0:
                last_note = time.monotonic()
                text = f"seeding {symbol}: {rows}/{total} orders"
                log.info("seed_progress", symbol=symbol, rows=rows, total=total)
                self.queue.put_nowait(SeedProgress(token, text))

        try:
            await self.rest.sync_clock()
            self.stream.skew_ms = self.rest.skew_ms
            symbols: list[str | None] = (
                [None] if self.config.all_symbols else list(self.config.symbols or ()))
            source = self.seed_source
            seeds = [Decoded.of(await self._seed_one(symbol, progress), self.parse_rest, source)
                     for symbol in symbols]
        except ExchangeError as exc:
            self.queue.put_nowait(SeedFailed(token, str(exc), exc.cause))
            return
        except Exception as exc:  # a seed that died unreported would wedge the splice
            log.exception("seed_crashed")
            self.queue.put_nowait(SeedFailed(token, f"{type(exc).__name__}: {exc}"))
            return
        self.queue.put_nowait(Seeded(token, seeds, source))

    async def _seed_one(self, symbol: str | None, progress: Callable[[str, int, int], None]
                        ) -> Seed:
        """One symbol's seed within `seed_timeout`: each call has its own deadline, but a
        seed of many pages, each just in time, could still take for ever."""
        try:
            async with asyncio.timeout(self.config.seed_timeout):
                return await self.rest.seed(symbol, progress)
        except TimeoutError:
            self.seed_deadlines += 1
            reason = (f"the seed of {symbol or 'all symbols'} took longer than seed_timeout "
                      f"({self.config.seed_timeout:g} s)")
            log.warning("seed_deadline", symbol=symbol, seed_timeout=self.config.seed_timeout)
            raise ExchangeError(reason) from None

    def _splice(self, seeds: list[Decoded], source: str, batch: Batch) -> None:
        """Snapshot, then buffer, then vanished orders, then live: one transaction.

        The epoch moves first, so the splice's own journal rows carry the epoch it opens:
        a reader can check that epoch E's seed rows and `sync_state.epoch = E` appear
        together, never one without the other.
        """
        self.epoch += 1
        seen: set[str] = set()
        for seed in seeds:
            for reason, excerpt in seed.invalid:
                self._invalid(batch, source, reason, excerpt)
            for update in seed.updates:
                seen.add(update.order_id)
                self._apply(update, batch)
        self._flush_buffer(batch)
        symbols = None if self.config.all_symbols else self.config.symbols
        began = self.seed_began_seq
        vanished = {oid for oid in self.book.open_ids(symbols) - seen
                    if self.last_seq.get(oid, 0) < began}
        uncertain = set().union(*(s.uncertain for s in seeds)) - seen
        due = time.monotonic() + self.config.grace_period
        for oid in vanished | uncertain:
            self.pending.setdefault(oid, Resolution(due))
        self.splices += 1
        self.seed_failures = 0
        self.spliced_at = time.monotonic()
        now = now_ms()
        open_now = self.book.open_count()
        if not self.live:
            batch.state["live_since"] = now
        self.live = True
        self.reason = None
        self.last_seed_ms = now
        batch.state.update(live=1, epoch=self.epoch, last_seed_at=now,
                           last_seed_orders=len(seen), status=f"live, {open_now} open orders",
                           splices=self.splices, not_live_reason=None)
        self.status.mode = "live"
        log.info("book_live", epoch=self.epoch, seeded=len(seen), open=open_now,
                 vanished=len(vanished), uncertain=len(uncertain))

    def _reconcile_due(self) -> bool:
        """A periodic splice catches what a silently lost push hid; none while one runs."""
        interval = self.config.reconcile_interval
        running = self.seed_task is not None and not self.seed_task.done()
        return (interval > 0 and self.live and not running
                and time.monotonic() - self.spliced_at >= interval)

    # -- vanished orders -------------------------------------------------------------

    async def _resolver(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            for oid, res in list(self.pending.items()):
                if res.due > now or not self.live:
                    continue
                row = self.book.rows.get(oid)
                if row is not None and row.state not in OPEN_STATES:
                    self.pending.pop(oid, None)
                    continue
                res.due = float("inf")  # in flight
                try:
                    answer = await self.rest.order_detail(oid)
                except NotFound:
                    self.queue.put_nowait(Detail(oid, None, None))
                except ExchangeError as exc:
                    self.queue.put_nowait(Detail(oid, None, str(exc)))
                else:
                    self.queue.put_nowait(Detail(oid, answer, None))

    def _resolved(self, detail: Detail, batch: Batch) -> None:
        oid = detail.order_id
        res = self.pending.get(oid)
        if res is None:
            return
        if detail.row is not None:
            try:
                update = self.parse_rest(detail.row, self.detail_source)
            except Invalid as exc:
                self._invalid(batch, self.detail_source, str(exc), _excerpt(detail.row), oid)
            else:
                if update.order_id == oid:
                    self.status.counts["resolved"] += 1
                    self.pending.pop(oid, None)
                    self.unresolved.discard(oid)
                    self._apply(update, batch)
                    if oid in self.book.rows:
                        batch.order(self.book.rows[oid], self.last_seq.get(oid, 0), False)
                    batch.state["unresolved"] = len(self.unresolved)
                    return
                self._invalid(batch, self.detail_source, "detail answer for another order",
                              _excerpt(detail.row), oid)
        if detail.error is None and self._forgotten(oid, res):
            self._infer_canceled(oid, batch)
            return
        res.attempts += 1
        retry = min(self.config.resolve_retry_max,
                    self.config.grace_period * 2 ** res.attempts)
        res.due = time.monotonic() + retry
        if detail.error is None and oid not in self.unresolved and oid in self.book.rows:
            self.unresolved.add(oid)
            batch.order(self.book.rows[oid], self.last_seq.get(oid, 0), True)
            log.warning("order_unresolved", order_id=oid, retry_in_s=retry)
        batch.state["unresolved"] = len(self.unresolved)

    def _forgotten(self, oid: str, res: Resolution) -> bool:
        """v4 answers "not found" for good about an order canceled with no fill some 20
        minutes ago, and only about such an order (anything with a fill is kept). After
        `forgotten_after` of such answers (far past any REST lag), that is what it is."""
        row = self.book.rows.get(oid)
        if self.config.api != "v4" or row is None or row.state != "new" or row.filled_size:
            return False
        now = time.monotonic()
        if res.unknown_since is None:
            res.unknown_since = now
        return now - res.unknown_since >= self.config.forgotten_after

    def _infer_canceled(self, oid: str, batch: Batch) -> None:
        row = self.book.rows[oid]
        self.pending.pop(oid, None)
        self.unresolved.discard(oid)
        self.status.counts["resolved"] += 1
        log.warning("order_inferred_canceled", order_id=oid,
                    reason=f"unknown to query/order for {self.config.forgotten_after:g} s")
        self._apply(dataclasses.replace(row, state="canceled", source="inferred_v4",
                                        update_time=None, fill_id=None), batch)
        batch.state["unresolved"] = len(self.unresolved)

    # -- bookkeeping -----------------------------------------------------------------

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.queue.put_nowait(Tick())

    def _batch(self, **state: Any) -> Batch:
        batch = Batch()
        batch.state.update(state)
        return batch

    def _publish(self, batch: Batch) -> None:
        """Refresh the status others read; listeners hear of every committed batch."""
        for outcome, n in batch.counts.items():
            self.status.counts[outcome] += n
        if batch.orders:
            self.status.open_orders = self.book.open_count()
        if self.live:
            self.status.mode = "live"
            self.status.text = f"live, {self.status.open_orders} open orders"
        else:
            if not self.status.connected and self.stream.reconnects:
                self.status.mode = "reconnecting"
            if "status" in batch.state:
                self.status.text = str(batch.state["status"])
        self._notify()

    def _notify(self) -> None:
        for listener in self.listeners:
            listener(self.status)


def _excerpt(value: Any) -> str:
    try:
        return json.dumps(value)[:PAYLOAD_LIMIT]
    except (TypeError, ValueError):
        return repr(value)[:PAYLOAD_LIMIT]
