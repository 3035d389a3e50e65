"""The private order stream: connect, open the venue's channel (log in, subscribe), keep
alive, replace a connection before the venue cuts it, reconnect.

It reports what happens as events on a queue and never touches the book: the venue's
channel says what a frame is, and its codec turns a row into an order update.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import structlog
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from tracker.events import Bad, Down, Event, Push, Up
from tracker.exchange.errors import StreamError
from tracker.exchange.tasks import unreported
from tracker.frames import (
    Ack,
    Ended,
    ErrorEvent,
    Frame,
    Handover,
    OrderPush,
    Pong,
    Unexpected,
    Unreadable,
)
from tracker.reasons import NotLive
from tracker.venue import Channel

log = structlog.get_logger("tracker.stream")

# What ends a connection, or an attempt at one, and is reported rather than raised.
FAILURES = (StreamError, ConnectionClosed, OSError, InvalidHandshake, InvalidURI, TimeoutError)
# A connection is replaced this long before the venue's age limit (at most a quarter of
# the limit), and up to a quarter more, so that a slow login and subscribe, and a few
# failed attempts, still end before the cut.
ROTATION_MARGIN_S = 300.0
# How the WebSocket library closes a connection whose keep-alive ping went unanswered.
PING_TIMEOUT = "keepalive ping timeout"


@dataclass(eq=False)
class Link:
    """One connection whose subscription is up, and its reader once it has one."""

    conn: int
    ws: websockets.ClientConnection
    opened: float  # loop time the connection was made: the venue counts its age from there
    early: list[Frame]  # pushes (and a handover) that came before the last reply
    subscribed: dict[str, Any]  # what the `stream_up` log line says of the subscription
    heard: float = 0.0  # loop time of the last frame
    silent: bool = False  # cut by the keeper for silence
    handover: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None


class Stream:
    def __init__(self, channel: Channel, queue: asyncio.Queue[Event], *,
                 ping_interval: float = 10.0, silence_timeout: float = 20.0,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 auth_backoff: float = 60.0, max_frame: int = 1 << 20) -> None:
        self.channel = channel
        self.queue = queue
        self.ping_interval = ping_interval
        self.silence_timeout = silence_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.auth_backoff = auth_backoff
        self.max_frame = max_frame
        self.skew_ms = 0  # the venue's clock minus ours, as the REST side measured it
        self.conn_id = 0  # the last connection tried
        self.conn = 0  # the connection the consumer was told is up (or the one tried)
        self.reconnects = 0
        self.stats: Counter[str] = Counter()
        # Measures the server's clock (ms ahead of ours). The skew is otherwise learnt only
        # by a seed, which needs a login first: without this, a clock a minute off could
        # never log in at all.
        self.measure_skew: Callable[[], Awaitable[int]] | None = None

    async def run(self) -> None:
        """Forever: one subscription at a time (carried across connections replaced before
        their age limit), with exponential back-off and full jitter between them."""
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                await self._serve()
            except FAILURES as exc:
                reason, cause = _why(exc)
            auth, clock = cause is NotLive.CREDENTIALS, cause is NotLive.CLOCK
            self.queue.put_nowait(Down(self.conn, reason, cause))
            self.reconnects += 1
            if time.monotonic() - started > 60:
                attempt = 0  # it was up for a while: start the back-off afresh
            delay = self.auth_backoff if auth else self._backoff(attempt)
            attempt += 1
            log.warning("stream_down", reason=reason, cause=cause, retry_in_s=round(delay, 2),
                        attempt=attempt)
            if clock:
                await self._resync()
            await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_max, self.backoff_initial * 2 ** attempt))

    async def _resync(self) -> None:
        if self.measure_skew is None:
            return
        try:
            self.skew_ms = await self.measure_skew()
        except Exception as exc:  # the REST side is down too: the next refusal retries
            log.warning("clock_sync_failed", error=str(exc)[:200])
        else:
            log.info("clock_synced", skew_ms=self.skew_ms)

    async def _serve(self) -> NoReturn:
        """One subscription, from its `Up` until the connection carrying it ends (raised):
        the first connection, then each that replaced the one before it."""
        self.conn_id += 1
        self.conn = self.conn_id
        link = await self._open(self.conn)
        self.queue.put_nowait(Up(link.conn))
        log.info("stream_up", conn=link.conn, **link.subscribed)
        self._start(link)
        previous = link
        try:
            while True:
                await self._until_due(link)
                previous, link = link, await self._rotate(link)
                self.conn = link.conn
                age = asyncio.get_running_loop().time() - previous.opened
                await self._close(previous)
                self.stats["rotations"] += 1
                log.info("stream_rotated", old_conn=previous.conn, new_conn=link.conn,
                         age_s=round(age, 1), **link.subscribed)
        finally:
            await self._close(previous)
            await self._close(link)

    async def _open(self, conn: int) -> Link:
        """A connection, logged in and subscribed. A venue with a text ping is pinged by
        the keeper; one with none pings the client itself (the library answers), and the
        library's own pings, unanswered for `silence_timeout`, tell a dead link from a
        quiet one. permessage-deflate is not offered (RFC 7692: a server compresses only
        what the client offered): one account's order frames are small, and inflating
        each cost the daemon about a third of its ingest (docs/measured.md)."""
        protocol_pings = self.channel.ping is None
        opened = asyncio.get_running_loop().time()
        ws = await websockets.connect(
            self.channel.url, max_size=self.max_frame, open_timeout=10, close_timeout=2,
            compression=None,
            ping_interval=self.ping_interval if protocol_pings else None,
            ping_timeout=self.silence_timeout if protocol_pings else None)
        early: list[Frame] = []
        try:
            subscribed = await self.channel.open(ws.send, lambda: self._reply(ws, early),
                                                 self.skew_ms)
        except BaseException:
            await ws.close()
            raise
        return Link(conn, ws, opened, early, subscribed)

    def _start(self, link: Link) -> None:
        """Reports what came before the last reply, then reads on."""
        for decoded in link.early:
            self._report(link, decoded)
        link.early = []
        link.reader = asyncio.create_task(self._read(link), name=f"stream-{link.conn}")

    async def _reply(self, ws: websockets.ClientConnection, early: list[Frame]) -> Any:
        """The body of the next answer within 10 s: pongs are skipped, and pushes (and a
        handover) that arrive before the last answer are kept in `early`, to be reported
        once the connection is up. A frame with no JSON in it, or the venue ending the
        subscription, ends the connection."""
        deadline = time.monotonic() + 10.0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamError("no answer from the exchange within 10 s",
                                  cause=NotLive.EXCHANGE_UNREACHABLE)
            # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the frame of a
            # recv that completes as the task is cancelled, and loses the cancel; a stop
            # (or a failed start) that cancels a stream opening then waited for ever.
            async with asyncio.timeout(remaining):
                frame = await ws.recv()
            decoded = self.channel.decode(frame)
            match decoded:
                case Pong():
                    continue
                case OrderPush() | Handover():
                    early.append(decoded)
                case Ack(body) | ErrorEvent(body=body) | Unexpected(body=body):
                    return body
                case Unreadable(_, excerpt):
                    raise StreamError(f"unreadable answer: {excerpt[:80]!r}")
                case Ended(reason, cause):
                    raise _ended(reason, cause)

    async def _read(self, link: Link) -> None:
        """Frames as they come, until the connection ends (raised). The keeper beside this
        loop sends the text pings and watches for silence, so the hot path pays for no
        timer per frame (a timeout around each `recv` costs a measurable share of a burst:
        docs/measured.md)."""
        loop = asyncio.get_running_loop()
        link.heard = loop.time()
        keeper = None
        if self.channel.ping is not None:
            keeper = asyncio.create_task(self._keep_alive(link, self.channel.ping),
                                         name="keep-alive")
            keeper.add_done_callback(unreported)
        try:
            while True:
                frame = await link.ws.recv()
                link.heard = loop.time()
                self.stats["frames"] += 1
                self._report(link, self.channel.decode(frame))
        except ConnectionClosed as exc:
            if link.silent:
                raise StreamError(f"silent for {self.silence_timeout:g} s",
                                  cause=NotLive.EXCHANGE_UNREACHABLE) from None
            if exc.sent is not None and exc.sent.reason == PING_TIMEOUT:
                self.stats["silences"] += 1
                raise StreamError(f"no answer to a ping for {self.silence_timeout:g} s",
                                  cause=NotLive.EXCHANGE_UNREACHABLE) from None
            raise
        finally:
            if keeper is not None:
                keeper.cancel()

    async def _keep_alive(self, link: Link, ping: str) -> None:
        """A venue that wants a text ping gets one every `ping_interval`, and a link that
        carried no frame for `silence_timeout` is cut."""
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while True:
            now = loop.time()
            if now - link.heard >= self.silence_timeout:
                self.stats["silences"] += 1
                link.silent = True
                link.ws.transport.abort()  # the reader's recv ends at once, and reports silence
                return
            if now - last_sent >= self.ping_interval:
                await link.ws.send(ping)
                last_sent = now
            await asyncio.sleep(min(last_sent + self.ping_interval,
                                    link.heard + self.silence_timeout) - now)

    # -- replacing a connection ----------------------------------------------------------

    async def _until_due(self, link: Link) -> None:
        """Until `link` is to be replaced: near the venue's age limit, or at once after the
        venue announced its end. What ends the link first is raised."""
        assert link.reader is not None
        handover = asyncio.create_task(link.handover.wait())
        try:
            await asyncio.wait({link.reader, handover}, timeout=self._due_in(link),
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            handover.cancel()
        if link.reader.done():
            await _ended_link(link)

    def _due_in(self, link: Link) -> float | None:
        """Seconds until `link` is replaced (None: never, for its age), jittered so that
        trackers started together do not all reconnect together."""
        max_age = self.channel.max_age_s
        if max_age is None:
            return None
        margin = min(ROTATION_MARGIN_S, max_age / 4) * (1 + random.random() / 4)
        return max(0.0, link.opened + max_age - margin - asyncio.get_running_loop().time())

    async def _rotate(self, old: Link) -> Link:
        """The next connection, opened and subscribed while `old` still reads (the caller
        then lets `old` go). Pushes from both go on during the overlap (a duplicate
        changes nothing in the book), so every event reaches at least one of them and the
        consumer sees no Down or Up. A failed attempt keeps `old` and is tried again after
        a back-off, until `old` itself ends (raised, as for any link)."""
        assert old.reader is not None
        attempt = 0
        while not old.reader.done():
            self.conn_id += 1
            conn = self.conn_id
            opening = asyncio.create_task(self._open(conn), name=f"stream-{conn}-open")
            try:
                await asyncio.wait({old.reader, opening}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if old.reader.done() or not opening.done():
                    await self._abandon(opening)
            if old.reader.done():
                break
            try:
                new = opening.result()
            except FAILURES as exc:
                reason, cause = _why(exc)
                delay = self._backoff(attempt)
                attempt += 1
                self.stats["rotation_failures"] += 1
                log.warning("stream_rotation_failed", conn=old.conn, attempt_conn=conn,
                            reason=reason, cause=cause, retry_in_s=round(delay, 2))
                if cause is NotLive.CLOCK:
                    await self._resync()
                await asyncio.wait({old.reader}, timeout=delay)
                continue
            self._start(new)
            return new
        await _ended_link(old)

    async def _abandon(self, opening: asyncio.Task[Link]) -> None:
        """An attempt no longer wanted: stopped, and its connection closed if it opened."""
        opening.cancel()
        await asyncio.gather(opening, return_exceptions=True)
        if not opening.cancelled() and opening.exception() is None:
            await opening.result().ws.close()

    async def _close(self, link: Link) -> None:
        """Closes `link`; its reader reports what the connection had received, then ends."""
        await link.ws.close()
        if link.reader is not None:
            await asyncio.gather(link.reader, return_exceptions=True)

    def _report(self, link: Link, decoded: Frame) -> None:
        """Counts what a frame was, and queues what the consumer needs: pongs and late acks
        end here, error events are logged, pushes with elements of ours and bad frames go
        on; a handover starts the link's replacement, and a subscription the venue ended
        ends the link."""
        match decoded:
            case OrderPush(data, ignored):
                self.stats["pushes"] += 1
                self.stats["ignored"] += ignored
                if data:
                    self.queue.put_nowait(Push(link.conn, data, int(time.time() * 1000)))
            case ErrorEvent(code, message):
                self.stats["error_events"] += 1
                log.warning("stream_error_event", code=code, message=message[:200])
            case Unreadable(reason, excerpt) | Unexpected(reason, excerpt):
                self.stats["bad_frames"] += 1
                self.queue.put_nowait(Bad(link.conn, reason, excerpt))
            case Handover(reason) if not link.handover.is_set():
                self.stats["handovers"] += 1
                log.info("stream_handover", conn=link.conn, reason=reason[:200])
                link.handover.set()
            case Ended(reason, cause):
                raise _ended(reason, cause)


def _ended(reason: str, cause: NotLive) -> StreamError:
    return StreamError(f"subscription ended by the exchange: {reason[:200]}", cause=cause)


async def _ended_link(link: Link) -> NoReturn:
    """What ended a link whose reader is done: its reader ends only by raising."""
    assert link.reader is not None
    await link.reader
    raise StreamError("closed", cause=NotLive.DISCONNECTED)


def _why(exc: BaseException) -> tuple[str, NotLive]:
    """A failed connection's reason for the log and the consumer, and what it means."""
    match exc:
        case StreamError(cause=cause):
            return str(exc), cause
        case ConnectionClosed():
            return f"{type(exc).__name__}: {exc}"[:300], NotLive.DISCONNECTED
        case InvalidStatus() if exc.response.status_code == 429:
            return f"{type(exc).__name__}: {exc}"[:300], NotLive.RATE_LIMITED
    return f"{type(exc).__name__}: {exc}"[:300], NotLive.EXCHANGE_UNREACHABLE
