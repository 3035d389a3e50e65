"""The splice and live state machine, with no I/O: events in, journal rows and effects out.

Every decision that changes the book is made here, and nothing here reads a clock, a socket
or a file: the driver (`tracker.sync`) hands in each event with the time, a `Batch` to fill
and a list to append effects to, then writes the batch and runs the effects. So each rule
can be tested by feeding events, as `websockets` tests its protocol object and
nautilus_trader its order state machine.

The phases and what moves between them are one table, `TRANSITIONS`: a (phase, event)
pair it lacks is ignored on purpose (a push after a stop, a seed answer nobody waits for).
Nothing here knows a venue: its payloads are read by the venue's `Codec`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

import msgspec

from tracker.batch import Batch, Loaded
from tracker.book import APPLIED, FIELDS, Book, Closing, Outcome
from tracker.codec import OPEN_STATES, Invalid, OrderUpdate
from tracker.config import Config
from tracker.events import (
    Bad,
    Decoded,
    Detail,
    Down,
    Event,
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
from tracker.logs import scrub_text
from tracker.reasons import NotLive
from tracker.venue import Codec

PAYLOAD_LIMIT = 4096
STATUS_EVERY_S = 1.0  # a tick rewrites the status line (and so the heartbeat) this often


def decoded(kept: list[OrderUpdate | tuple[str, str]], uncertain: list[str],
            codec: Codec) -> Decoded:
    """A seed's kept rows sorted into updates and refusals; the uncertain ids that are
    order ids (a page's junk is journaled as invalid, not asked about)."""
    seed = Decoded(uncertain={oid for oid in uncertain if codec.order_id.fullmatch(oid)})
    for row in kept:
        if isinstance(row, OrderUpdate):
            seed.updates.append(row)
        else:
            seed.invalid.append(row)
    return seed


def decoder(parse: Callable[[Any], OrderUpdate],
            held: Callable[[str], OrderUpdate | None]
            ) -> Callable[[Any], OrderUpdate | tuple[str, str]]:
    """What a seed keeps of each raw row: the update (`reuse`d where the book holds the
    same), or why it was refused and an excerpt. A row the venue's REST client already
    read (a fast path over the whole answer, as the codec would have) is taken as it is."""
    def decode(raw: Any) -> OrderUpdate | tuple[str, str]:
        if isinstance(raw, OrderUpdate):
            return reuse(raw, held(raw.order_id))
        try:
            update = parse(raw)
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
        # Asked of every client id a push carries: one scan for all of them.
        self.names_a_secret = (re.compile("|".join(map(re.escape, secrets))).search
                               if secrets else _never)
        self.codec = config.adapter.codec(config.venue_settings)
        # A venue whose REST reads may trail its stream: a seed read this long after the
        # subscription shows at least the state the stream started from, so an order that
        # closed just before it cannot be seeded open with no push left to close it.
        self.rest_lag = config.adapter.rest_lag_s(config.venue_settings)
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
        self.seed_failure_cause = NotLive.EXCHANGE
        self.reason: NotLive | None = NotLive.STARTING  # why not live; None while live
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
            self.phase = handler(self, event, batch)
        return self.effects

    # -- connection --------------------------------------------------------------------

    def _connected(self, event: Up, batch: Batch) -> Phase:
        self._note("info", "splice_start", conn=event.conn, reason="connected")
        return self._seed_again(self.rest_lag, batch)

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
        self._not_live(batch, NotLive.STOPPED)
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
                    update = self.codec.push_element(element)
                except Invalid as exc:
                    self._invalid(batch, "push", str(exc), excerpt(element),
                                  self.codec.element_id(element), received_ms=push.received_ms)
                    continue
            self._apply(update, batch, push.received_ms)
            batch.state["last_event_at"] = self.last_event_ms = push.received_ms

    def _apply(self, update: OrderUpdate, batch: Batch, received_ms: int | None = None
               ) -> Outcome:
        client = update.client_order_id
        if client is not None and self.names_a_secret(client):
            update = msgspec.structs.replace(update, client_order_id="***")
        seq = self.seqs.take_seq()
        oid = update.order_id
        before = self.book.rows.get(oid)
        outcome, row = self.book.apply(update)
        batch.journal(seq, self.epoch, update.source, outcome, update,
                      received_ms=received_ms or self.wall_ms)
        if outcome is APPLIED:
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
        failing = self.seed_failure_cause if self.seed_failures else NotLive.SPLICING
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
        phase = self._seed_again(self.rest_lag, batch)
        self._not_live(batch, NotLive.QUEUE_OVERFLOW, f"{event.dropped} events dropped while the "
                                                f"writer was {self.config.queue_max} behind; "
                                                "splicing again")
        return phase

    def _overflowed_unconnected(self, event: Overflow, batch: Batch) -> Phase:
        """Already not live, and no connection to splice on: the next one splices."""
        self._note("error", "queue_overflow", dropped=event.dropped,
                   queue_max=self.config.queue_max)
        return self.phase

    # -- status ------------------------------------------------------------------------

    def _not_live(self, batch: Batch, reason: NotLive, detail: str = "") -> None:
        """Not live, and why: the reason for programs, the words and detail for people."""
        self.reason = reason = NotLive(reason)
        words = reason.words
        batch.state.update(live=0, not_live_reason=reason.value)
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
                        oid = (e.order_id if isinstance(e, OrderUpdate)
                               else self.codec.element_id(e))
                        if oid is not None and elsewhere(oid):
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
            update = self.codec.detail(detail.row)
        except Invalid as exc:
            self._invalid(batch, self.codec.detail_source, str(exc), excerpt(detail.row), oid)
            return False
        if update.order_id != oid:
            self._invalid(batch, self.codec.detail_source, "detail answer for another order",
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
        """A venue that forgets (`Codec.inferred_source`) answers "not found" for good about
        an order canceled with no fill a while ago, and only about such an order (anything
        with a fill is kept). After `forgotten_after` of such answers (far past any REST
        lag), that is what it is."""
        row = self.book.rows.get(oid)
        if (self.codec.inferred_source is None or row is None or row.state != "new"
                or row.filled_size):
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
                   reason=f"unknown to the order lookup for {self.config.forgotten_after:g} s")
        source = self.codec.inferred_source
        assert source is not None  # only a venue that forgets infers
        self._apply(msgspec.structs.replace(row, state="canceled", source=source,
                                        update_time=None, fill_id=None), batch)
        batch.state["unresolved"] = len(self.unresolved)

    def _note(self, level: str, event: str, **fields: Any) -> None:
        self.effects.append(Note(level, event, fields))


Handler = Callable[["Session", Any, Batch], Phase]


def _rows(phases: tuple[Phase, ...], event: type, handler: Handler
          ) -> dict[tuple[Phase, type], Handler]:
    return {(phase, event): handler for phase in phases}


# (phase, event) -> the handler, which returns the next phase. Absent pairs are ignored.
TRANSITIONS: dict[tuple[Phase, type], Handler] = {
    **_rows(ACTIVE, Up, Session._connected),
    **_rows(ACTIVE, Down, Session._disconnected),
    **_rows((S.STARTING, S.WAITING, S.LIVE, S.RECONCILING, S.DOWN), Push, Session._push),
    (S.SEEDING, Push): Session._hold,
    **_rows(ACTIVE, Bad, Session._bad_frame),
    **_rows((S.WAITING, S.RECONCILING), SeedBegin, Session._seed_began),
    **_rows(SEEDS, SeedProgress, Session._seed_progress),
    **_rows((S.SEEDING, S.RECONCILING), Seeded, Session._splice),
    **_rows(SEEDS, SeedFailed, Session._seed_failed),
    **_rows(ACTIVE, Detail, Session._detail),
    **_rows((S.WAITING, S.SEEDING, S.LIVE, S.RECONCILING), Overflow, Session._overflowed),
    **_rows((S.STARTING, S.DOWN), Overflow, Session._overflowed_unconnected),
    **_rows(ACTIVE, Tick, Session._tick),
    **_rows(ACTIVE, Stop, Session._stop),
}


def _never(text: str) -> None:
    """No secret to find: a tracker given none."""


def excerpt(value: Any) -> str:
    try:
        return json.dumps(value)[:PAYLOAD_LIMIT]
    except (TypeError, ValueError):
        return repr(value)[:PAYLOAD_LIMIT]
