"""The core's stream (tracker/exchange/stream.py) with the smallest venue a Channel can be,
over a real socket: what it owes every venue whatever the handshake (the keep-alive a venue
asks for, and none where the venue pings the client itself; a silent link cut and reported;
a refused handshake reported with its reason, and the next try after a back-off)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import websockets

from tracker.events import Down, Event, Push, Up
from tracker.exchange.errors import StreamError
from tracker.exchange.stream import Stream
from tracker.frames import Frame, OrderPush, Pong, Unexpected
from tracker.reasons import NotLive
from tracker.venue import Reply, Send


@dataclass
class Channel:
    """A venue whose handshake is one `hello` answered by `welcome`, whose pushes are JSON
    objects with an `orders` list and whose pong is `pong`."""

    url: str
    ping: str | None = "ping"
    refuse: bool = False
    opened: int = 0

    async def open(self, send: Send, reply: Reply, skew_ms: int) -> dict[str, Any]:
        self.opened += 1
        await send("hello")
        answer = await reply()
        if self.refuse or answer != {"event": "welcome"}:
            raise StreamError(f"refused: {answer}", cause=NotLive.CREDENTIALS)
        return {"mode": "test"}

    def decode(self, frame: str | bytes) -> Frame:
        if frame == "pong":
            return Pong()
        body = json.loads(frame)
        if isinstance(body, dict) and "orders" in body:
            return OrderPush(body["orders"], 0)
        return Unexpected("unknown message", str(frame)[:200], body)


@dataclass
class Exchange:
    """What the server heard, and whether it answers at all."""

    heard: list[str] = field(default_factory=list)
    quiet: bool = False  # says nothing after the handshake, not even a pong


@asynccontextmanager
async def venue(exchange: Exchange) -> AsyncIterator[str]:
    async def handler(ws: websockets.ServerConnection) -> None:
        async for raw in ws:
            exchange.heard.append(str(raw))
            if raw == "hello":
                await ws.send(json.dumps({"event": "welcome"}))
                await ws.send(json.dumps({"orders": [{"id": "1"}]}))
            elif raw == "ping" and not exchange.quiet:
                await ws.send("pong")

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@asynccontextmanager
async def streaming(channel: Channel, **timing: float
                    ) -> AsyncIterator[asyncio.Queue[Event]]:
    queue: asyncio.Queue[Event] = asyncio.Queue()
    stream = Stream(channel, queue, backoff_initial=0.05, backoff_max=0.05,
                    auth_backoff=0.05, **timing)
    task = asyncio.create_task(stream.run())
    try:
        yield queue
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def next_of(queue: asyncio.Queue[Event], kind: type) -> Any:
    while True:
        event = await asyncio.wait_for(queue.get(), 5)
        if isinstance(event, kind):
            return event


async def test_a_venue_that_asks_for_pings_gets_them_and_its_pushes_are_reported() -> None:
    exchange = Exchange()
    async with venue(exchange) as url, streaming(Channel(url), ping_interval=0.1,
                                                 silence_timeout=2) as queue:
        await next_of(queue, Up)
        push = await next_of(queue, Push)
        assert push.data == [{"id": "1"}]
        await asyncio.sleep(0.5)
    assert exchange.heard[0] == "hello" and exchange.heard.count("ping") >= 3


async def test_a_venue_that_pings_the_client_itself_is_sent_no_text_keep_alive() -> None:
    """And the link is still watched: a keeper that stopped at its first ping time would
    leave a dead link up for ever."""
    exchange = Exchange()
    async with venue(exchange) as url, streaming(Channel(url, ping=None), ping_interval=0.1,
                                                 silence_timeout=0.6) as queue:
        await next_of(queue, Up)
        down = await next_of(queue, Down)
    assert exchange.heard == ["hello"] and down.cause is NotLive.EXCHANGE_UNREACHABLE


async def test_a_silent_link_is_cut_and_reported_as_the_exchange_out_of_reach() -> None:
    exchange = Exchange(quiet=True)
    async with venue(exchange) as url, streaming(Channel(url), ping_interval=0.1,
                                                 silence_timeout=0.4) as queue:
        await next_of(queue, Up)
        down = await next_of(queue, Down)
    assert down.cause is NotLive.EXCHANGE_UNREACHABLE and "silent for 0.4 s" in down.reason


async def test_a_refused_handshake_is_reported_with_its_cause_and_tried_again() -> None:
    channel = Channel("", refuse=True)
    async with venue(Exchange()) as url:
        channel.url = url
        async with streaming(channel) as queue:
            first = await next_of(queue, Down)
            await next_of(queue, Down)
    assert first.cause is NotLive.CREDENTIALS and "refused" in first.reason
    assert channel.opened >= 2
