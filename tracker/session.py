"""The splice and live state machine, with no I/O: events in, journal rows and effects out.

Every decision that changes the book is made here, and nothing here reads a clock, a socket
or a file: the driver (`tracker.sync`) hands in each event with the time, a `Batch` to fill
and a list to append effects to, then writes the batch and runs the effects. So each rule
can be tested by feeding events, as `websockets` tests its protocol object and
nautilus_trader its order state machine.

The phases and what moves between them are one table, `TRANSITIONS`: a (phase, event)
pair it lacks is ignored on purpose (a push after a stop, a seed answer nobody waits for).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

import msgspec

from tracker import codec
from tracker.book import FIELDS, Book, Closing, Outcome
from tracker.codec import OPEN_STATES, Invalid, OrderUpdate
from tracker.config import Config
from tracker.exchange import errors
from tracker.exchange.stream import DISCONNECTED, Bad, Down, Push, Up
from tracker.logs import scrub_text
from tracker.storage import UNREACHABLE, UNWRITABLE, Batch, Loaded

PAYLOAD_LIMIT = 4096
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
    UNREACHABLE: "database unreachable",
    "queue_overflow": "events dropped",
    "stopped": "stopped",
}
STATUS_EVERY_S = 1.0  # a tick rewrites the status line (and so the heartbeat) this often


# -- events (the stream's Up, Down, Push and Bad are events too) ------------------------

@dataclass(frozen=True)
class SeedBegin:
    """The seed `token` starts reading now: pushes from here on are held for its splice."""

    token: int


@dataclass
class Decoded:
    """One symbol's seed, each row decoded on the page it came in (`decoder`): a large
    seed, or a reconcile under flow, never holds raw rows (several times the size of the
    decoded ones) beyond their page."""

    updates: list[OrderUpdate] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (reason, excerpt)
    uncertain: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, kept: list[OrderUpdate | tuple[str, str]], uncertain: list[str]) -> Decoded:
        decoded = cls(uncertain={oid for oid in uncertain if codec.ORDER_ID.fullmatch(oid)})
        for row in kept:
            if isinstance(row, OrderUpdate):
                decoded.updates.append(row)
            else:
                decoded.invalid.append(row)
        return decoded


def decoder(parse: Callable[[Any, str], OrderUpdate], source: str,
            held: Callable[[str], OrderUpdate | None]
            ) -> Callable[[Any], OrderUpdate | tuple[str, str]]:
    """What a seed keeps of each raw row: the update (`reuse`d where the book holds the
    same), or why it was refused and an excerpt."""
    def decode(raw: Any) -> OrderUpdate | tuple[str, str]:
        try:
            update = parse(raw, source)
        except Invalid as exc:
            return str(exc), excerpt(raw)
        return reuse(update, held(update.order_id))
    return decode


def reuse(update: OrderUpdate, held: OrderUpdate | None) -> OrderUpdate:
    """A seed row, each field that equals the held row's taken from the held row.

    A reconcile reads every open order while the flow goes on, and its decoded rows (some
    ten objects each) lived until the splice amid the objects of the flow's new orders:
    once freed they left arenas the flow still held a little of, and the daemon's memory
    stepped up by their size at every first reconcile. A row of what the book holds costs
    little more than its struct. Equal means spelled the same too: `Decimal("1.0") ==
    Decimal("1.00")`, but the journal keeps each source's own spelling."""
    if held is None:
        return update
    same = {}
    for name in FIELDS:
        mine, theirs = getattr(update, name), getattr(held, name)
        if mine is None or mine is theirs or type(mine) is not type(theirs) or mine != theirs:
            continue
        if isinstance(mine, Decimal) and not mine.same_quantum(theirs):
            continue
        same[name] = theirs
    return msgspec.structs.replace(update, **same) if same else update


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

    dropped: int = 0


Event = Up | Down | Push | Bad | SeedBegin | Seeded | SeedFailed | SeedProgress | Detail | Tick \
    | Stop | Overflow


# -- effects ----------------------------------------------------------------------------

@dataclass(frozen=True)
class StartSeed:
    """Cancel any seed in flight and read the open orders again after `delay` seconds,
    posting `SeedBegin(token)` first and `Seeded` or `SeedFailed` with the same token."""

    token: int
    delay: float


@dataclass(frozen=True)
class CancelSeed:
    pass


@dataclass(frozen=True)
class AskDetail:
    """Ask the exchange about one order and post the answer as `Detail`."""

    order_id: str


@dataclass(frozen=True)
class Note:
    """A log line: the driver writes it."""

    level: str  # info | warning | error
    event: str
    fields: dict[str, Any]


Effect = StartSeed | CancelSeed | AskDetail | Note


class Phase(StrEnum):
    STARTING = "starting"  # no connection yet
    WAITING = "waiting"  # not live; a seed is asked for and has not begun (pushes apply)
    SEEDING = "seeding"  # not live; the seed is reading (pushes are held for the splice)
    LIVE = "live"
    RECONCILING = "reconciling"  # live; a periodic seed is asked for or reading
    DOWN = "down"  # disconnected, not live
    STOPPED = "stopped"


@dataclass
class Resolution:
    due: float
    attempts: int = 0
    unknown_since: float | None = None  # first "not found" (monotonic seconds)


class Seqs(Protocol):
    """Where journal seqs come from: the store, which knows where numbering resumes and
    reserves what it hands out before any of it is committed."""

    next_seq: int

    def take_seq(self) -> int: ...


S = Phase
ACTIVE = (S.STARTING, S.WAITING, S.SEEDING, S.LIVE, S.RECONCILING, S.DOWN)
SEEDS = (S.WAITING, S.SEEDING, S.RECONCILING)


def _rows(phases: tuple[Phase, ...], event: type, handler: str) -> dict[tuple[Phase, type], str]:
    return {(phase, event): handler for phase in phases}


# (phase, event) -> the handler, which returns the next phase. Absent pairs are ignored.
TRANSITIONS: dict[tuple[Phase, type], str] = {
    **_rows(ACTIVE, Up, "_connected"),
    **_rows(ACTIVE, Down, "_disconnected"),
    **_rows((S.STARTING, S.WAITING, S.LIVE, S.RECONCILING, S.DOWN), Push, "_push"),
    (S.SEEDING, Push): "_hold",
    **_rows(ACTIVE, Bad, "_bad_frame"),
    **_rows((S.WAITING, S.RECONCILING), SeedBegin, "_seed_began"),
    **_rows(SEEDS, SeedProgress, "_seed_progress"),
    **_rows((S.SEEDING, S.RECONCILING), Seeded, "_splice"),
    **_rows(SEEDS, SeedFailed, "_seed_failed"),
    **_rows(ACTIVE, Detail, "_detail"),
    **_rows((S.WAITING, S.SEEDING, S.LIVE, S.RECONCILING), Overflow, "_overflowed"),
    **_rows((S.STARTING, S.DOWN), Overflow, "_overflowed_unconnected"),
    **_rows(ACTIVE, Tick, "_tick"),
    **_rows(ACTIVE, Stop, "_stop"),
}


class Session:
    """The book, the splice and the vanished-order rules of one tracker.

    Longer than the house's 200 lines on purpose: every handler of `TRANSITIONS` reads and
    changes the same phase, buffer, vanished and uncertain sets, and keeping them on one
    object is what lets a test see the whole state after each event. Split across classes,
    a rule would have to reach into another's state, which is the coupling this replaced."""

    def __init__(self, config: Config, seqs: Seqs, secrets: tuple[str, ...] = ()) -> None:
        self.config = config
        self.seqs = seqs
        # Exchange-originated text is journaled: anything hostile that echoes our credentials
        # must not carry them into the book (raw, or hex as a binary frame is excerpted).
        self.secrets = secrets
        self.api = config.api
        self.seed_source = "seed_v2" if config.api == "v2" else "seed_v4"
        self.detail_source = "detail_v2" if config.api == "v2" else "detail_v4"
        self.parse_rest = codec.from_v2 if config.api == "v2" else codec.from_v4
        self.phase = Phase.STARTING
        self.book = Book()
        self.last_seq: dict[str, int] = {}  # journal seq of the update each row shows
        self.closing = Closing()  # the closed rows held, to let go once durable and old
        self.durable_seq = 0  # the highest seq the store has committed, as the driver says
        self.unresolved: set[str] = set()
        self.pending: dict[str, Resolution] = {}
        self.epoch = 0
        self.splices = 0
        self.reconnects = 0
        self.buffer: list[Push] = []  # pushes held while SEEDING
        self.seed_token = 0
        self.seed_began_seq = 0
        self.seed_failures = 0
        self.last_seed_failure = ""
        self.seed_failure_cause = errors.EXCHANGE
        self.reason: str | None = "starting"  # why not live; None while live
        self.words = "starting"  # the status line last written
        self.status_at = float("-inf")
        self.spliced_at = 0.0
        self.last_event_ms: int | None = None
        self.last_seed_ms: int | None = None
        self.resolved = 0  # vanished orders whose fate became known
        self.now = 0.0  # monotonic seconds of the event being handled
        self.wall_ms = 0  # and its wall-clock time
        self.effects: list[Effect] = []

    @property
    def live(self) -> bool:
        return self.phase in (Phase.LIVE, Phase.RECONCILING)

    def restore(self, loaded: Loaded, now: float) -> None:
        """Start from the book as the file holds it: unresolved orders are asked about
        again after the grace period."""
        self.book = Book(loaded.rows, loaded.gone)
        self.last_seq = loaded.last_seq
        self.durable_seq = self.seqs.next_seq - 1
        self.closing = Closing()
        for row in loaded.rows:
            if row.state not in OPEN_STATES:
                self.closing.wrote(row.order_id, now, self.last_seq.get(row.order_id, 0))
        self.unresolved = loaded.unresolved
        self.epoch = loaded.state["epoch"]
        self.splices = loaded.state["splices"]
        soon = now + self.config.grace_period
        self.pending = {oid: Resolution(soon) for oid in self.unresolved}

    def handle(self, event: Event, batch: Batch, now: float, wall_ms: int) -> list[Effect]:
        """Apply one event: what it changes goes into `batch`; what to do is returned."""
        self.now, self.wall_ms, self.effects = now, wall_ms, []
        handler = TRANSITIONS.get((self.phase, type(event)))
        if handler is not None:
            self.phase = getattr(self, handler)(event, batch)
        return self.effects

    # -- connection --------------------------------------------------------------------

    def _connected(self, event: Up, batch: Batch) -> Phase:
        self._note("info", "splice_start", conn=event.conn, reason="connected")
        return self._seed_again(0.0, batch)

    def _disconnected(self, event: Down, batch: Batch) -> Phase:
        self.reconnects += 1
        self._abort_seed(batch)
        batch.state["reconnects"] = self.reconnects
        self._not_live(batch, event.cause, f"{event.reason[:200]} (reconnect attempt "
                                           f"{self.reconnects})")
        self._note("warning", "book_stale", reason=event.reason, cause=event.cause)
        return Phase.DOWN

    def _stop(self, event: Stop, batch: Batch) -> Phase:
        self._abort_seed(batch)
        self._not_live(batch, "stopped")
        return Phase.STOPPED

    # -- pushes ------------------------------------------------------------------------

    def _push(self, push: Push, batch: Batch) -> Phase:
        self._apply_push(push, batch)
        return self.phase

    def _hold(self, push: Push, batch: Batch) -> Phase:
        self.buffer.append(push)
        return self.phase

    def _bad_frame(self, event: Bad, batch: Batch) -> Phase:
        self._invalid(batch, "push", event.reason, event.excerpt)
        return self.phase

    def _apply_push(self, push: Push, batch: Batch) -> None:
        for element in push.data:
            if isinstance(element, OrderUpdate):  # read whole by the codec's fast path
                update = element
            else:
                try:
                    update = codec.from_push(element)
                except Invalid as exc:
                    oid = element.get("order_id") if isinstance(element, dict) else None
                    self._invalid(batch, "push", str(exc), excerpt(element),
                                  oid if isinstance(oid, str) and len(oid) <= 64 else None,
                                  received_ms=push.received_ms)
                    continue
            self._apply(update, batch, push.received_ms)
            batch.state["last_event_at"] = self.last_event_ms = push.received_ms

    def _apply(self, update: OrderUpdate, batch: Batch, received_ms: int | None = None
               ) -> Outcome:
        client = update.client_order_id
        if client is not None and any(s in client for s in self.secrets):
            update = msgspec.structs.replace(update, client_order_id="***")
        seq = self.seqs.take_seq()
        oid = update.order_id
        before = self.book.rows.get(oid)
        outcome, row = self.book.apply(update)
        batch.journal(seq, self.epoch, update.source, outcome, update,
                      received_ms=received_ms or self.wall_ms)
        if outcome is Outcome.APPLIED:
            self.last_seq[oid] = seq
            if row.state not in OPEN_STATES:
                self.pending.pop(oid, None)
            self.unresolved.discard(oid)
        if row is not before:  # also a duplicate or stale update that filled a gap
            batch.order(row, self.last_seq.get(oid, seq), oid in self.unresolved, self.wall_ms)
            if row.state not in OPEN_STATES:
                self.closing.wrote(oid, self.now, seq)
        return outcome

    def _invalid(self, batch: Batch, source: str, reason: str, payload: str,
                 order_id: str | None = None, received_ms: int | None = None) -> None:
        reason, payload = scrub_text(reason, self.secrets), scrub_text(payload, self.secrets)
        order_id = None if order_id is None else scrub_text(order_id, self.secrets)
        self._note("warning", "invalid_update", source=source, reason=reason, order_id=order_id)
        batch.journal(self.seqs.take_seq(), self.epoch, source, Outcome.INVALID,
                      order_id=order_id, reason=reason, payload=payload[:PAYLOAD_LIMIT],
                      received_ms=received_ms or self.wall_ms)

    def _flush_buffer(self, batch: Batch) -> None:
        """Pushes held for a splice that will not happen are still facts: apply them."""
        held, self.buffer = self.buffer, []
        for push in held:
            self._apply_push(push, batch)

    # -- the splice --------------------------------------------------------------------

    def _seed_again(self, delay: float, batch: Batch) -> Phase:
        """Ask for a new seed; a book that was live stays live while it is read."""
        self._abort_seed(batch)
        self.seed_token += 1
        self.effects.append(StartSeed(self.seed_token, delay))
        if self.live:
            return Phase.RECONCILING
        failing = self.seed_failure_cause if self.seed_failures else "splicing"
        self._not_live(batch, failing, self._splicing("reading the open orders"))
        return Phase.WAITING

    def _abort_seed(self, batch: Batch) -> None:
        if self.phase in SEEDS:
            self.effects.append(CancelSeed())
        self.seed_token += 1
        self._flush_buffer(batch)

    def _seed_began(self, event: SeedBegin, batch: Batch) -> Phase:
        if event.token != self.seed_token:
            return self.phase
        self.seed_began_seq = self.seqs.next_seq
        return Phase.RECONCILING if self.live else Phase.SEEDING

    def _seed_progress(self, event: SeedProgress, batch: Batch) -> Phase:
        if event.token == self.seed_token:
            self._write_status(batch, self._splicing(event.text))
        return self.phase

    def _seed_failed(self, event: SeedFailed, batch: Batch) -> Phase:
        if event.token != self.seed_token:
            return self.phase
        self.seed_failures += 1
        self.seed_failure_cause = event.cause
        self._flush_buffer(batch)
        delay = min(self.config.backoff_max,
                    self.config.backoff_initial * 2 ** self.seed_failures)
        self._note("warning", "seed_failed", reason=event.reason, retry_in_s=round(delay, 2))
        self.last_seed_failure = event.reason[:160]
        return self._seed_again(delay, batch)

    def _splice(self, event: Seeded, batch: Batch) -> Phase:
        """Snapshot, then buffer, then vanished orders, then live: one transaction.

        The epoch moves first, so the splice's own journal rows carry the epoch it opens:
        a reader can check that epoch E's seed rows and `sync_state.epoch = E` appear
        together, never one without the other. An open order the snapshot lacks, and that
        nothing touched since the seed began, has vanished: its fate is asked about.
        """
        if event.token != self.seed_token:
            return self.phase
        self.epoch += 1
        seen: set[str] = set()
        for seed in event.seeds:
            for reason, text in seed.invalid:
                self._invalid(batch, event.source, reason, text)
            for update in seed.updates:
                seen.add(update.order_id)
                self._apply(update, batch)
        self._flush_buffer(batch)
        symbols = None if self.config.all_symbols else self.config.symbols
        vanished = {oid for oid in self.book.open_ids(symbols) - seen
                    if self.last_seq.get(oid, 0) < self.seed_began_seq}
        uncertain = set().union(*(s.uncertain for s in event.seeds)) - seen
        due = self.now + self.config.grace_period
        for oid in vanished | uncertain:
            self.pending.setdefault(oid, Resolution(due))
        self.splices += 1
        self.seed_failures = 0
        self.spliced_at = self.now
        open_now = self.book.open_count()
        if not self.live:
            batch.state["live_since"] = self.wall_ms
        self.reason = None
        self.last_seed_ms = self.wall_ms
        batch.state.update(live=1, epoch=self.epoch, last_seed_at=self.wall_ms,
                           last_seed_orders=len(seen), splices=self.splices,
                           not_live_reason=None)
        self._write_status(batch, f"live, {open_now} open orders")
        self._note("info", "book_live", epoch=self.epoch, seeded=len(seen), open=open_now,
                   vanished=len(vanished), uncertain=len(uncertain))
        return Phase.LIVE

    def _overflowed(self, event: Overflow, batch: Batch) -> Phase:
        """The writer is writing again after falling `queue_max` behind, and the pushes it
        missed are gone: the book is not live until a splice has read the exchange again."""
        self._note("error", "queue_overflow", dropped=event.dropped,
                   queue_max=self.config.queue_max)
        self.phase = Phase.WAITING  # not live: the seed below must not keep the book live
        phase = self._seed_again(0.0, batch)
        self._not_live(batch, "queue_overflow", f"{event.dropped} events dropped while the "
                                                f"writer was {self.config.queue_max} behind; "
                                                "splicing again")
        return phase

    def _overflowed_unconnected(self, event: Overflow, batch: Batch) -> Phase:
        """Already not live, and no connection to splice on: the next one splices."""
        self._note("error", "queue_overflow", dropped=event.dropped,
                   queue_max=self.config.queue_max)
        return self.phase

    # -- status ------------------------------------------------------------------------

    def _not_live(self, batch: Batch, reason: str, detail: str = "") -> None:
        """Not live, and why: the reason for programs, the words and detail for people."""
        self.reason = reason
        words = NOT_LIVE[reason]
        batch.state.update(live=0, not_live_reason=reason)
        self._write_status(batch, f"{words}: {detail}" if detail else words)

    def _write_status(self, batch: Batch, words: str) -> None:
        self.words = words
        self.status_at = self.now
        batch.state["status"] = words

    def _splicing(self, text: str) -> str:
        """While a seed is retried, why the last one failed stays in view."""
        if self.seed_failures and self.last_seed_failure:
            return f"{text}; the last seed failed: {self.last_seed_failure}"
        return text

    def _tick(self, event: Tick, batch: Batch) -> Phase:
        """Timers: the status line (a commit, so the heartbeat moves), the periodic
        reconcile, and the vanished orders whose grace period is over."""
        if self.now - self.status_at >= STATUS_EVERY_S:
            words = f"live, {self.book.open_count()} open orders" if self.live else self.words
            self._write_status(batch, words)
        interval = self.config.reconcile_interval
        if (self.phase is Phase.LIVE and interval > 0
                and self.now - self.spliced_at >= interval):
            self._note("info", "splice_start", reason="periodic reconcile")
            return self._seed_again(0.0, batch)
        if self.live:
            self._ask_due()
        if not self.buffer:  # a held push's order was read back for it: it stays
            self._let_go()
        return self.phase

    # -- what the book holds in memory ------------------------------------------------

    def wanted(self, events: Iterable[Event]) -> set[str]:
        """The orders these events may update that the book let go of: the driver reads
        them back (`recall`) before handing the events in, or a late word about a closed
        order would be merged as if the order were new."""
        elsewhere = self.book.elsewhere
        wanted: set[str] = set()
        for event in events:
            match event:
                case Push(data=data):
                    for e in data:
                        oid = e.order_id if isinstance(e, OrderUpdate) else (
                            e.get("order_id") if isinstance(e, dict) else None)
                        if isinstance(oid, str) and elsewhere(oid):
                            wanted.add(oid)
                case Seeded(seeds=seeds):  # a splice of 100,000 rows: no set of all their ids
                    wanted.update(u.order_id for seed in seeds for u in seed.updates
                                  if elsewhere(u.order_id))
                case Detail(order_id=oid) if elsewhere(oid):
                    wanted.add(oid)
        return wanted

    def recall(self, found: Iterable[tuple[OrderUpdate, int]], now: float) -> None:
        """Rows read back from the store, held again until they are due to go."""
        for row, seq in found:
            if not self.book.recall(row):
                continue
            self.last_seq[row.order_id] = seq
            if row.state not in OPEN_STATES:
                self.closing.wrote(row.order_id, now, seq)

    def _let_go(self) -> None:
        """Closed orders last written `closed_in_memory` ago and committed since leave
        memory; the store keeps them. An order still asked about stays."""
        for oid in self.closing.due(self.now - self.config.closed_in_memory, self.durable_seq):
            if oid in self.pending or oid in self.unresolved:
                self.closing.wrote(oid, self.now, self.last_seq.get(oid, 0))
                continue
            self.book.let_go(oid)
            self.last_seq.pop(oid, None)

    # -- vanished orders ---------------------------------------------------------------

    def _ask_due(self) -> None:
        for oid, res in list(self.pending.items()):
            if res.due > self.now:
                continue
            row = self.book.rows.get(oid)
            if row is not None and row.state not in OPEN_STATES:
                self.pending.pop(oid, None)
                continue
            res.due = float("inf")  # in flight
            self.effects.append(AskDetail(oid))

    def _detail(self, detail: Detail, batch: Batch) -> Phase:
        oid = detail.order_id
        res = self.pending.get(oid)
        if res is None:
            return self.phase
        if detail.row is not None and self._answered(detail, oid, batch):
            return self.phase
        if detail.error is None and self._forgotten(oid, res):
            self._infer_canceled(oid, batch)
            return self.phase
        res.attempts += 1
        retry = min(self.config.resolve_retry_max,
                    self.config.grace_period * 2 ** res.attempts)
        res.due = self.now + retry
        if detail.error is None and oid not in self.unresolved and oid in self.book.rows:
            self.unresolved.add(oid)
            batch.order(self.book.rows[oid], self.last_seq.get(oid, 0), True, self.wall_ms)
            self._note("warning", "order_unresolved", order_id=oid, retry_in_s=retry)
        batch.state["unresolved"] = len(self.unresolved)
        return self.phase

    def _answered(self, detail: Detail, oid: str, batch: Batch) -> bool:
        """The exchange told us about the order: apply it. False for an answer not usable."""
        try:
            update = self.parse_rest(detail.row, self.detail_source)
        except Invalid as exc:
            self._invalid(batch, self.detail_source, str(exc), excerpt(detail.row), oid)
            return False
        if update.order_id != oid:
            self._invalid(batch, self.detail_source, "detail answer for another order",
                          excerpt(detail.row), oid)
            return False
        self.resolved += 1
        self.pending.pop(oid, None)
        self.unresolved.discard(oid)
        self._apply(update, batch)
        if oid in self.book.rows:
            batch.order(self.book.rows[oid], self.last_seq.get(oid, 0), False, self.wall_ms)
        batch.state["unresolved"] = len(self.unresolved)
        return True

    def _forgotten(self, oid: str, res: Resolution) -> bool:
        """v4 answers "not found" for good about an order canceled with no fill some 20
        minutes ago, and only about such an order (anything with a fill is kept). After
        `forgotten_after` of such answers (far past any REST lag), that is what it is."""
        row = self.book.rows.get(oid)
        if self.api != "v4" or row is None or row.state != "new" or row.filled_size:
            return False
        if res.unknown_since is None:
            res.unknown_since = self.now
        return self.now - res.unknown_since >= self.config.forgotten_after

    def _infer_canceled(self, oid: str, batch: Batch) -> None:
        row = self.book.rows[oid]
        self.pending.pop(oid, None)
        self.unresolved.discard(oid)
        self.resolved += 1
        self._note("warning", "order_inferred_canceled", order_id=oid,
                   reason=f"unknown to query/order for {self.config.forgotten_after:g} s")
        self._apply(msgspec.structs.replace(row, state="canceled", source="inferred_v4",
                                        update_time=None, fill_id=None), batch)
        batch.state["unresolved"] = len(self.unresolved)

    def _note(self, level: str, event: str, **fields: Any) -> None:
        self.effects.append(Note(level, event, fields))


def excerpt(value: Any) -> str:
    try:
        return json.dumps(value)[:PAYLOAD_LIMIT]
    except (TypeError, ValueError):
        return repr(value)[:PAYLOAD_LIMIT]
