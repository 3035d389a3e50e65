"""The private order stream: connect, open the venue's channel (log in, subscribe), keep
alive, reconnect.

It reports what happens as events on a queue and never touches the book: the venue's
channel says what a frame is, and its codec turns a row into an order update.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from tracker.events import Bad, Down, Event, Push, Up
from tracker.exchange.errors import StreamError
from tracker.frames import (
    ErrorEvent,
    Frame,
    OrderPush,
    Pong,
    Unexpected,
    Unreadable,
)
from tracker.reasons import NotLive
from tracker.venue import Channel

log = structlog.get_logger("tracker.stream")

class Stream:
    def __init__(self, channel: Channel, queue: asyncio.Queue[Event], *,
                 ping_interval: float = 10.0, silence_timeout: float = 20.0,
                 backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 auth_backoff: float = 60.0, max_frame: int = 1 << 20) -> None:
        self.channel = channel
        self.queue = queue
        self.ping_interval = ping_interval
        self.silence_timeout = silence_timeout
        self._heard = 0.0  # loop time of the last frame
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.auth_backoff = auth_backoff
        self.max_frame = max_frame
        self.skew_ms = 0  # the venue's clock minus ours, as the REST side measured it
        self.conn_id = 0
        self.reconnects = 0
        self.stats: Counter[str] = Counter()
        # Measures the server's clock (ms ahead of ours). The skew is otherwise learnt only
        # by a seed, which needs a login first: without this, a clock a minute off could
        # never log in at all.
        self.measure_skew: Callable[[], Awaitable[int]] | None = None

    async def run(self) -> None:
        """Forever: one connection at a time, with exponential back-off and full jitter."""
        attempt = 0
        while True:
            self.conn_id += 1
            conn = self.conn_id
            started = time.monotonic()
            try:
                await self._session(conn)
                reason, cause = "closed", NotLive.DISCONNECTED
            except StreamError as exc:
                reason, cause = str(exc), exc.cause
            except ConnectionClosed as exc:
                reason, cause = f"{type(exc).__name__}: {exc}"[:300], NotLive.DISCONNECTED
            except InvalidStatus as exc:
                limited = exc.response.status_code == 429
                reason = f"{type(exc).__name__}: {exc}"[:300]
                cause = NotLive.RATE_LIMITED if limited else NotLive.EXCHANGE_UNREACHABLE
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"[:300]
                cause = NotLive.EXCHANGE_UNREACHABLE
            auth, clock = cause is NotLive.CREDENTIALS, cause is NotLive.CLOCK
            self.queue.put_nowait(Down(conn, reason, cause))
            self.reconnects += 1
            if time.monotonic() - started > 60:
                attempt = 0  # it was up for a while: start the back-off afresh
            delay = self.auth_backoff if auth else random.uniform(
                0, min(self.backoff_max, self.backoff_initial * 2 ** attempt))
            attempt += 1
            log.warning("stream_down", reason=reason, cause=cause, retry_in_s=round(delay, 2),
                        attempt=attempt)
            if clock and self.measure_skew is not None:
                await self._resync(self.measure_skew)
            await asyncio.sleep(delay)

    async def _resync(self, measure: Callable[[], Awaitable[int]]) -> None:
        try:
            self.skew_ms = await measure()
        except Exception as exc:  # the REST side is down too: the next refusal retries
            log.warning("clock_sync_failed", error=str(exc)[:200])
        else:
            log.info("clock_synced", skew_ms=self.skew_ms)

    async def _session(self, conn: int) -> None:
        async with websockets.connect(self.channel.url, ping_interval=None,
                                      max_size=self.max_frame, open_timeout=10,
                                      close_timeout=2) as ws:
            early: list[Frame] = []
            subscribed = await self.channel.open(ws.send, lambda: self._reply(ws, early),
                                                 self.skew_ms)
            self.queue.put_nowait(Up(conn))
            log.info("stream_up", conn=conn, **subscribed)
            for decoded in early:
                self._report(conn, decoded)
            await self._read(ws, conn)

    async def _reply(self, ws: websockets.ClientConnection, early: list[Frame]) -> Any:
        """The next JSON event within 10 s, skipping pongs; pushes (any object with a
        "table") that arrive before the last ack are kept in `early`, to be reported once
        the connection is up. A frame with no JSON in it ends the connection."""
        deadline = time.monotonic() + 10.0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamError("no answer from the exchange within 10 s",
                                  cause=NotLive.EXCHANGE_UNREACHABLE)
            frame = await asyncio.wait_for(ws.recv(), remaining)
            decoded = self.channel.decode(frame)
            if isinstance(decoded, Pong):
                continue
            if isinstance(decoded, Unreadable):
                raise StreamError(f"unreadable answer: {decoded.excerpt[:80]!r}")
            if isinstance(decoded, OrderPush) or (
                    isinstance(decoded.body, dict) and "table" in decoded.body):
                early.append(decoded)
                continue
            return decoded.body

    async def _read(self, ws: websockets.ClientConnection, conn: int) -> None:
        """Frames as they come. The keeper beside this loop sends the pings and watches for
        silence, so the hot path pays for no timer per frame (a timeout around each `recv`
        costs a measurable share of a burst: docs/measured.md)."""
        loop = asyncio.get_running_loop()
        self._heard = loop.time()
        silent = asyncio.Event()
        keeper = asyncio.create_task(self._keep_alive(ws, silent), name="keep-alive")
        keeper.add_done_callback(_retrieve)
        try:
            while True:
                frame = await ws.recv()
                self._heard = loop.time()
                self.stats["frames"] += 1
                self._report(conn, self.channel.decode(frame))
        except websockets.ConnectionClosed:
            if silent.is_set():
                raise StreamError(f"silent for {self.silence_timeout:g} s",
                                  cause=NotLive.EXCHANGE_UNREACHABLE) from None
            raise
        finally:
            keeper.cancel()

    async def _keep_alive(self, ws: websockets.ClientConnection, silent: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while True:
            now = loop.time()
            if now - self._heard >= self.silence_timeout:
                self.stats["silences"] += 1
                silent.set()
                ws.transport.abort()  # the reader's recv ends at once, and reports silence
                return
            if now - last_sent >= self.ping_interval:
                if self.channel.ping is not None:
                    await ws.send(self.channel.ping)
                last_sent = now
            await asyncio.sleep(min(last_sent + self.ping_interval,
                                    self._heard + self.silence_timeout) - now)

    def _report(self, conn: int, decoded: Frame) -> None:
        """Counts what a frame was, and queues what the consumer needs: pongs and late acks
        end here, error events are logged, pushes with elements of ours and bad frames go
        on."""
        match decoded:
            case OrderPush(data, ignored):
                self.stats["pushes"] += 1
                self.stats["ignored"] += ignored
                if data:
                    self.queue.put_nowait(Push(conn, data, int(time.time() * 1000)))
            case ErrorEvent(code, message):
                self.stats["error_events"] += 1
                log.warning("stream_error_event", code=code, message=message[:200])
            case Unreadable(reason, excerpt) | Unexpected(reason, excerpt):
                self.stats["bad_frames"] += 1
                self.queue.put_nowait(Bad(conn, reason, excerpt))


def _retrieve(task: asyncio.Task[None]) -> None:
    """A keeper that failed (a ping on a closing connection) needs no report of its own:
    the reader sees the same closed connection."""
    if not task.cancelled():
        task.exception()
