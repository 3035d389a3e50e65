"""The asyncio driver of the session: the one place where the book is written.

One consumer task owns the session. Everything else (the stream, the seed, the order-detail
resolver, timers) only posts events to its queue, so the book changes in one order, and
each batch of changes is one SQLite transaction (group commit: whatever queued up while
the last commit was in flight goes into the next one). What to decide lives in
`tracker.session`; here is only what waits: sockets, timers and the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from tracker import heap, identity
from tracker.batch import Batch, Loaded, now_ms
from tracker.config import Config
from tracker.events import (
    Bad,
    Detail,
    Down,
    Event,
    Markets,
    Overflow,
    Push,
    SeedBegin,
    Seeded,
    SeedFailed,
    SeedProgress,
    Stop,
    Tick,
    Up,
)
from tracker.exchange.errors import ExchangeError, NotFound, UnknownSymbol
from tracker.exchange.stream import Stream
from tracker.health import Health
from tracker.markets import Known
from tracker.migrate import StartupError
from tracker.reasons import NotLive
from tracker.session import (
    AskDetail,
    CancelSeed,
    Effect,
    Note,
    Session,
    StartSeed,
    decoded,
    decoder,
)
from tracker.storage import BookStore
from tracker.venue import Keep, Rest, Seed

log = structlog.get_logger("tracker.sync")

DRAIN_LIMIT = 10_000  # events folded into one transaction at most
# The writer commits at least once a second (the ticker): a book whose last commit is older
# than this is not current, whatever `live` says, because the writer is stuck.
STALE_AFTER_SECONDS = 5.0
TICK_SECONDS = 0.25  # the session's timers (status, reconcile, vanished orders) move this often
# The C heap's free pages go back to the system this often (tracker.heap): a splice's page
# bodies and batch, and the SQLite writes made on the loop's thread, which share glibc's
# main heap with the interpreter's large buffers, leave holes in it that glibc keeps.
# Releasing on a timer, not only after a splice, keeps the RSS flat under steady flow at
# a fraction of a millisecond a release (docs/measured.md, "Fifth round").
RELEASE_EVERY_SECONDS = 5.0
# What a full queue may shed: each is either re-learnt by the next splice (pushes, bad frames,
# which the stream counts as it reads them) or made again (ticks, progress notes).
SHEDDABLE = (Push, Bad, Tick, SeedProgress)


def without(loaded: Loaded, order_ids: set[str]) -> Loaded:
    """The book as loaded, less these orders (of symbols dropped at this start)."""
    return Loaded([r for r in loaded.rows if r.order_id not in order_ids],
                  loaded.unresolved - order_ids,
                  {k: v for k, v in loaded.last_seq.items() if k not in order_ids},
                  loaded.state, loaded.gone)


class EventQueue(asyncio.Queue[Event]):
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

    def put_nowait(self, item: Event) -> None:
        if self.qsize() >= self.limit and isinstance(item, SHEDDABLE):
            self.dropped += 1
            self._shed()
            return
        super().put_nowait(item)

    async def next(self) -> Event:
        """Wait for the next item, as `take` gives it."""
        return self._taken(await self.get())

    def take(self) -> Event:
        return self._taken(self.get_nowait())

    def _taken(self, item: Event) -> Event:
        """An Overflow comes out with the number dropped so far, and may be queued again."""
        if isinstance(item, Overflow):
            self.overflowing = False
            return Overflow(self.dropped)
        return item

    def _shed(self) -> None:
        kept: list[Event] = []
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
class Status:
    """What the outside world (status line, metrics, systemd) wants to know."""

    text: str = "starting"
    connected: bool = False
    open_orders: int = 0
    counts: Counter[str] = field(default_factory=Counter)


class Tracker:
    """Feeds the session and runs its effects: the stream, the seeds, the order-detail
    questions, the ticker and the writer.

    Longer than 200 lines because each of those five tasks is short and shares the one
    queue, the store and the stop deadline with the others; as separate classes each would
    hold references to all three, and the lifecycle (start all, stop all in order) would be
    spread over them."""

    def __init__(self, config: Config, store: BookStore, rest: Rest) -> None:
        self.config = config
        self.store = store
        self.rest = rest
        self.queue = EventQueue(config.queue_max)
        symbols = None if config.all_symbols else list(config.symbols or ())
        self.stream = Stream(config.adapter.channel(config, symbols),
                             self.queue,  # type: ignore[arg-type]
                             ping_interval=config.ping_interval,
                             silence_timeout=config.silence_timeout,
                             backoff_initial=config.backoff_initial,
                             backoff_max=config.backoff_max,
                             auth_backoff=config.auth_backoff, max_frame=config.max_frame)
        self.stream.measure_skew = self._measure_skew
        self.session = Session(config, store, config.credentials.scrubbed())
        self.status = Status()
        self.listeners: list[Callable[[Status], None]] = []
        self.seed_task: asyncio.Task[None] | None = None
        # (order id, its symbol as the book holds it, None when the book has no row)
        self.details: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self.seed_deadlines = 0  # seeds abandoned at seed_timeout
        self.unwritten = 0  # journal rows a stop could not write (the book is behind by them)
        self.recalled = 0  # orders read back from the store
        self.stop_deadline: float | None = None  # monotonic; set by stop()
        # The venue's markets: read at the start and after every seed (new listings), on a
        # task of their own, so a slow or failing list never holds a seed or a push back.
        self.markets = Known(config.venue, config.adapter.symbol)
        self.markets_due = asyncio.Event()
        self.markets_due.set()
        self.markets_failing = False  # said once, until the list is read again
        self.markets_known = False  # read once: an unknown symbol is no start error after

    # What metrics and the daemon read, from the session.
    @property
    def book(self):  # type: ignore[no-untyped-def]
        return self.session.book

    @property
    def live(self) -> bool:
        return self.session.live

    @property
    def unresolved(self) -> set[str]:
        return self.session.unresolved

    @property
    def splices(self) -> int:
        return self.session.splices

    @property
    def last_event_ms(self) -> int | None:
        return self.session.last_event_ms

    @property
    def last_seed_ms(self) -> int | None:
        return self.session.last_seed_ms

    # -- lifecycle -------------------------------------------------------------------

    async def load(self) -> None:
        """Read the book and make the first write, which records what the book is a book of;
        a book of another account or of symbols this tracker would not cover is refused
        (`identity.Mismatch`) before anything is written."""
        loaded = await self.store.load()
        mine = self.config.identity
        dropped = identity.judge(loaded.state, mine, {r.symbol for r in loaded.rows},
                                 self.config.consent)
        forget = [r.order_id for r in loaded.rows if r.symbol in dropped]
        if forget:
            loaded = without(loaded, set(forget))
        self.session.restore(loaded, time.monotonic())
        self.status.open_orders = self.book.open_count()
        batch = Batch(forget=forget)
        batch.state.update(live=0, status="starting", pid=os.getpid(), started_at=now_ms(),
                           api=self.config.adapter.state_label(self.config.venue_settings),
                           not_live_reason=NotLive.STARTING.value, **mine.columns())
        await self.store.commit(batch)
        if dropped:
            log.warning("symbols_dropped", symbols=",".join(sorted(dropped)),
                        orders_removed=len(forget))

    async def run(self) -> None:
        """Until `stop()`: the stream, the consumer, the resolver and the timers."""
        tasks = [asyncio.create_task(self.stream.run(), name="stream"),
                 asyncio.create_task(self._resolver(), name="resolver"),
                 asyncio.create_task(self._ticker(), name="ticker"),
                 asyncio.create_task(self._markets(), name="markets"),
                 asyncio.create_task(self._releaser(), name="releaser")]
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
            self.store.stop_by(self.stop_deadline)
        self.queue.put_nowait(Stop())

    @property
    def current(self) -> bool:
        """Live, and the writer committed recently: what a reader sees is current."""
        return self.live and time.monotonic() - self.store.committed_at < STALE_AFTER_SECONDS

    @property
    def reason_now(self) -> NotLive | None:
        """Why the book is not live at this moment: a writer that cannot commit outranks
        whatever was last written, which it could not write."""
        if self.session.reason is not NotLive.STOPPED and (
                time.monotonic() - self.store.committed_at >= STALE_AFTER_SECONDS):
            return self.store.not_writable_reason
        return None if self.live else self.session.reason

    def health(self) -> Health:
        """Everything the metrics endpoint shows, read at one instant."""
        gauges = self.store.gauges()
        counts = self.status.counts
        return Health(
            current=self.current, not_live_reason=self.reason_now,
            connected=self.status.connected, open_orders=self.status.open_orders,
            orders_held=len(self.book.rows), orders_recalled=self.recalled,
            unresolved_orders=len(self.unresolved), queue_depth=self.queue.qsize(),
            events_dropped=self.queue.dropped,
            last_commit_age_s=time.monotonic() - self.store.committed_at,
            seed_deadlines=self.seed_deadlines, last_event_ms=self.last_event_ms,
            last_seed_ms=self.last_seed_ms, wal_bytes=gauges.wal_bytes,
            wal_restarts=gauges.wal_restarts, journal_pruned=gauges.journal_pruned,
            feed_readers=gauges.feed_readers, feed_closed=gauges.feed_closed,
            outcomes={k: counts[k] for k in ("applied", "duplicate", "stale", "invalid",
                                             "resolved")},
            reconnects=self.stream.reconnects, rotations=self.stream.stats["rotations"],
            rotation_failures=self.stream.stats["rotation_failures"],
            handovers=self.stream.stats["handovers"], pushes_ignored=self.stream.stats["ignored"],
            splices=self.splices, rest_calls=self.rest.stats["calls"],
            rest_errors={k.removeprefix("errors_"): v for k, v in sorted(self.rest.stats.items())
                         if k.startswith("errors_")})

    async def _measure_skew(self) -> int:
        await self.rest.sync_clock()
        return self.rest.skew_ms

    # -- the consumer ----------------------------------------------------------------

    async def _consume(self) -> None:
        """Fold what queued up into one batch; while the writer thread commits it, fold the
        next. One commit in flight at most, so batches land in order, each whole."""
        writing: asyncio.Task[None] | None = None
        while True:
            items = [await self.queue.next()]
            while len(items) < DRAIN_LIMIT and not self.queue.empty():
                items.append(self.queue.take())
            if wanted := self.session.wanted(items):
                if writing is not None:  # the store's connection, whole, for the read
                    await writing
                    writing = None
                if not await self._recall(wanted):
                    items = self._unrecalled(items, wanted)
            batch = Batch()
            # A stop is handled after what arrived with it: those are facts to write too.
            stopping = any(isinstance(item, Stop) for item in items)
            for item in [i for i in items if not isinstance(i, Stop)] + (
                    [Stop()] if stopping else []):
                self._handle(item, batch)
            if not batch and not stopping:
                continue
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
                self.status.text = "stopped"
                self._notify()
                return

    async def _recall(self, order_ids: set[str]) -> bool:
        """Read back the orders the book let go of, retrying as a commit does; False when
        a stop's deadline came first."""
        delay = 0.1
        while True:
            try:
                found = await self.store.recall(sorted(order_ids))
            except Exception as exc:
                if self.stop_deadline is not None and time.monotonic() >= self.stop_deadline:
                    return False
                log.error("recall_failed", error=str(exc), orders=len(order_ids),
                          retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.session.recall(found, time.monotonic())
            self.recalled += len(found)
            return True

    def _unrecalled(self, items: list[Event], wanted: set[str]) -> list[Event]:
        """Stopping, with the book unreadable: the events that need a row it could not read
        are not applied (the next start's splice reads the exchange again), never merged
        as if their orders were new."""
        kept = [i for i in items if not self.session.wanted([i]) & wanted]
        self.unwritten += len(items) - len(kept)
        return kept

    def _handle(self, event: Event, batch: Batch) -> None:
        if isinstance(event, Markets):  # one row per market: a statement writes it once
            rows = {row[1]: row for row in [*batch.markets, *event.rows]}
            batch.markets = sorted(rows.values())
            return
        for effect in self.session.handle(event, batch, time.monotonic(), now_ms()):
            self._run(effect)
        if isinstance(event, Up | Down):
            self.status.connected = isinstance(event, Up)

    def _run(self, effect: Effect) -> None:
        match effect:
            case StartSeed(token, delay):
                self._cancel_seed()
                self.seed_task = asyncio.create_task(self._seed(token, delay), name="seed")
            case CancelSeed():
                self._cancel_seed()
            case AskDetail(order_id):
                row = self.session.book.rows.get(order_id)
                self.details.put_nowait((order_id, row.symbol if row is not None else None))
            case Note(level, event, fields):
                getattr(log, level)(event, **fields)

    def _cancel_seed(self) -> None:
        if self.seed_task is not None and not self.seed_task.done():
            self.seed_task.cancel()

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
                self.session.durable_seq = self.store.committed_seq
                break
            except Exception as exc:
                pause = delay
                if self.stop_deadline is not None:
                    pause = max(0.0, min(delay, self.stop_deadline - time.monotonic()))
                log.error("commit_failed", error=str(exc), retry_in_s=round(pause, 2))
                await asyncio.sleep(pause)
                delay = min(delay * 2, 5.0)
        self._publish(batch)

    # -- what runs beside the consumer -----------------------------------------------

    async def _seed(self, token: int, delay: float) -> None:
        """Only reads REST and posts what it found."""
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
            codec = self.session.codec
            decode = decoder(codec.seed_row, self.book.rows.get)
            seeds = []
            for symbol in symbols:
                seed = await self._seed_one(symbol, progress, decode)
                seeds.append(decoded(seed.rows, seed.uncertain, codec))
        except ExchangeError as exc:
            self.queue.put_nowait(SeedFailed(token, str(exc), exc.cause))
            return
        except Exception as exc:  # a seed that died unreported would wedge the splice
            log.exception("seed_crashed")
            self.queue.put_nowait(SeedFailed(token, f"{type(exc).__name__}: {exc}"))
            return
        self.queue.put_nowait(Seeded(token, seeds, codec.seed_source))
        self.markets_due.set()

    async def _seed_one(self, symbol: str | None, progress: Callable[[str, int, int], None],
                        decode: Keep) -> Seed:
        """One symbol's seed within `seed_timeout`: each call has its own deadline, but a
        seed of many pages, each just in time, could still take for ever."""
        try:
            async with asyncio.timeout(self.config.seed_timeout):
                return await self.rest.seed(symbol, progress, decode)
        except TimeoutError:
            self.seed_deadlines += 1
            reason = (f"the seed of {symbol or 'all symbols'} took longer than seed_timeout "
                      f"({self.config.seed_timeout:g} s)")
            log.warning("seed_deadline", symbol=symbol, seed_timeout=self.config.seed_timeout)
            raise ExchangeError(reason) from None

    async def _resolver(self) -> None:
        """Asks about one order at a time, as the session asks, with the symbol the book
        holds for it: a venue that looks orders up by instrument (OKX) needs it."""
        while True:
            oid, symbol = await self.details.get()
            try:
                answer = await self.rest.order_detail(oid, symbol)
            except NotFound:
                self.queue.put_nowait(Detail(oid, None, None))
            except ExchangeError as exc:
                self.queue.put_nowait(Detail(oid, None, str(exc)))
            else:
                self.queue.put_nowait(Detail(oid, answer, None))

    async def _markets(self) -> None:
        """Read the venue's markets whenever they are due, and post what is new."""
        while True:
            await self.markets_due.wait()
            self.markets_due.clear()
            await self.read_markets()

    async def read_markets(self) -> None:
        """One reading of the venue's markets. A failure is said once (until a reading
        succeeds) and waits for the next seed: the book goes on without them, and the
        orders of a market not recorded show no unified symbol meanwhile."""
        symbols = None if self.config.all_symbols else list(self.config.symbols or ())
        try:
            found = await self.rest.markets(symbols)
        except UnknownSymbol as exc:
            if not self.markets_known:  # at the start: a symbol mistyped, or never listed
                raise StartupError(os.EX_CONFIG, str(exc)) from None
            self._markets_unread(exc)  # delisted while it ran: its orders stay as they were
            return
        except Exception as exc:  # whatever it is, the book must not stop for it
            self._markets_unread(exc)
            return
        self.markets_known = True
        rows, refused = self.markets.news(found)
        if refused:
            log.warning("markets_refused", count=len(refused), symbols=",".join(refused[:5]),
                        reason="not a symbol of the venue, or a base or quote that is no "
                               "currency code")
        if self.markets_failing:
            log.info("markets_read", markets=len(found))
            self.markets_failing = False
        if rows:
            self.queue.put_nowait(Markets(rows))

    def _markets_unread(self, exc: Exception) -> None:
        """Said once, until a reading succeeds."""
        if not self.markets_failing:
            error = str(exc) if isinstance(exc, ExchangeError) else (
                f"{type(exc).__name__}: {exc}")
            log.warning("markets_unread", error=error[:300],
                        effect="unified_symbol stays NULL for markets not recorded; "
                               "read again after the next seed")
        self.markets_failing = True

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.queue.put_nowait(Tick())

    @staticmethod
    async def _releaser() -> None:
        while True:
            await asyncio.sleep(RELEASE_EVERY_SECONDS)
            heap.release()

    # -- what others read ------------------------------------------------------------

    def _publish(self, batch: Batch) -> None:
        """Refresh the status others read; listeners hear of every committed batch."""
        for outcome, n in batch.counts.items():
            self.status.counts[outcome] += n
        self.status.counts["resolved"] = self.session.resolved
        if batch.orders:
            self.status.open_orders = self.book.open_count()
        if self.live:
            self.status.text = f"live, {self.status.open_orders} open orders"
        elif "status" in batch.state:
            self.status.text = str(batch.state["status"])
        self._notify()

    def _notify(self) -> None:
        for listener in self.listeners:
            listener(self.status)
