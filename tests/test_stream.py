"""The core's stream (tracker/exchange/stream.py) with the smallest venue a Channel can be,
over a real socket: what it owes every venue whatever the handshake (the keep-alive a venue
asks for, and the WebSocket library's where the venue pings the client itself; a silent or
dead link cut and reported; a refused handshake reported with its reason, and the next try
after a back-off; a connection replaced before the venue's age limit, or at once when the
venue announces its end, with no gap the consumer sees; a subscription the venue ended)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets
from structlog.testing import capture_logs

from tests.streaming import streaming, until
from tracker.events import Down, Event, Push, Up
from tracker.exchange.errors import StreamError
from tracker.exchange.stream import Stream
from tracker.frames import Ended, Frame, Handover, OrderPush, Pong, Unexpected
from tracker.reasons import NotLive
from tracker.venue import Reply, Send


@dataclass
class Channel:
    """A venue whose handshake is one `hello` answered by `welcome`, whose pushes are JSON
    objects with an `orders` list and whose pong is `pong`."""

    url: str
    ping: str | None = "ping"
    max_age_s: float | None = None
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
        if body == {"event": "handover"}:
            return Handover("server shutting down")
        if body == {"event": "ended"}:
            return Ended("key revoked", NotLive.CREDENTIALS)
        return Unexpected("unknown message", str(frame)[:200], body)


WELCOME = json.dumps({"event": "welcome"})


@dataclass
class Exchange:
    """A venue's server: what it heard, how it answers each `hello` (numbered from 1 in
    the order they come), what it sends a subscribed connection later, and its limits."""

    heard: list[str] = field(default_factory=list)
    quiet: bool = False  # says nothing after the handshake, not even a pong
    answers: dict[int, list[str]] = field(default_factory=dict)  # else welcome and a push
    later: dict[int, list[tuple[float, str]]] = field(default_factory=dict)  # (delay, frame)
    cut_after: float | None = None  # closes every connection this old: the venue's age limit
    hellos: int = 0
    subscribed: set[websockets.ServerConnection] = field(default_factory=set)
    numbered: int = 0  # the last number pumped
    extensions: list[str | None] = field(default_factory=list)  # each handshake's offer


@asynccontextmanager
async def venue(exchange: Exchange, *, pump: bool = False,
                server_pings: float | None = None) -> AsyncIterator[str]:
    """The server's URL. `pump`: numbered pushes, one every few ms, each to every subscribed
    connection, as long as one is; `server_pings`: the server's protocol pings, every so
    often, with the connection dropped when one is not answered as soon."""
    async def send_later(ws: websockets.ServerConnection, delay: float, frame: str) -> None:
        await asyncio.sleep(delay)
        await ws.send(frame)

    async def handler(ws: websockets.ServerConnection) -> None:
        assert ws.request is not None
        exchange.extensions.append(ws.request.headers.get("Sec-WebSocket-Extensions"))
        tasks: list[asyncio.Task[None]] = []
        if exchange.cut_after is not None:
            tasks.append(asyncio.create_task(cut(ws, exchange.cut_after)))
        try:
            await serve(ws, tasks)
        except websockets.ConnectionClosed:
            pass
        finally:
            exchange.subscribed.discard(ws)
            for task in tasks:
                task.cancel()

    async def serve(ws: websockets.ServerConnection, tasks: list[asyncio.Task[None]]) -> None:
        async for raw in ws:
            exchange.heard.append(str(raw))
            if raw == "hello":
                exchange.hellos += 1
                answer = exchange.answers.get(exchange.hellos)
                for frame in answer or [WELCOME, json.dumps({"orders": [{"id": "1"}]})]:
                    await ws.send(frame)
                if answer is None or WELCOME in answer:
                    exchange.subscribed.add(ws)
                    tasks.extend(asyncio.create_task(send_later(ws, delay, frame))
                                 for delay, frame in exchange.later.get(exchange.hellos, []))
            elif raw == "ping" and not exchange.quiet:
                await ws.send("pong")

    async def pumping() -> None:
        while True:
            await asyncio.sleep(0.003)
            if not exchange.subscribed:
                continue
            exchange.numbered += 1
            frame = json.dumps({"orders": [{"n": exchange.numbered}]})
            for ws in list(exchange.subscribed):
                with suppress(websockets.ConnectionClosed):
                    await ws.send(frame)

    async with websockets.serve(handler, "127.0.0.1", 0, ping_interval=server_pings,
                                ping_timeout=server_pings and 5 * server_pings) as server:
        pumper = asyncio.create_task(pumping()) if pump else None
        try:
            yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            if pumper is not None:
                pumper.cancel()


async def cut(ws: websockets.ServerConnection, after: float) -> None:
    await asyncio.sleep(after)
    await ws.close(1001, "too old")


async def next_of(queue: asyncio.Queue[Event], kind: type) -> Any:
    while True:
        event = await asyncio.wait_for(queue.get(), 5)
        if isinstance(event, kind):
            return event


async def up_to(queue: asyncio.Queue[Event], kind: type) -> list[Event]:
    """The events queued up to the first of `kind`, which is the last."""
    events = [await queue.get()]
    while not isinstance(events[-1], kind):
        events.append(await queue.get())
    return events


async def drained(queue: asyncio.Queue[Event], within: float = 5.0) -> list[Event]:
    """Every event queued until none has come for half a second (or `within` is over)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    events: list[Event] = []
    with suppress(TimeoutError):
        while loop.time() < deadline:
            events.append(await asyncio.wait_for(queue.get(), 0.5))
    return events


def numbers(events: list[Event]) -> set[int]:
    return {e["n"] for event in events if isinstance(event, Push)
            for e in event.data if "n" in e}


async def test_a_venue_that_asks_for_pings_gets_them_and_its_pushes_are_reported() -> None:
    exchange = Exchange()
    async with venue(exchange) as url, streaming(Channel(url), ping_interval=0.1,
                                                 silence_timeout=2) as stream:
        await next_of(stream.queue, Up)
        push = await next_of(stream.queue, Push)
        assert push.data == [{"id": "1"}]
        await asyncio.sleep(0.5)
    assert exchange.heard[0] == "hello" and exchange.heard.count("ping") >= 3


async def test_compression_is_not_offered_though_the_venue_would_take_it() -> None:
    """The server accepts permessage-deflate (the library's default); the stream does not
    offer it, so frames come as the venue wrote them and none is inflated."""
    exchange = Exchange()
    async with venue(exchange) as url, streaming(Channel(url)) as stream:
        await next_of(stream.queue, Push)
    assert exchange.extensions == [None]


async def test_a_quiet_link_to_a_venue_that_pings_the_client_is_kept() -> None:
    """The venue pings (and drops a client that does not answer); nothing else comes for
    longer than the silence timeout: the link is not cut, and no text ping is sent."""
    exchange = Exchange()
    async with (venue(exchange, server_pings=0.1) as url,
                streaming(Channel(url, ping=None), ping_interval=0.1,
                          silence_timeout=0.4) as stream):
        await next_of(stream.queue, Up)
        events = await drained(stream.queue, within=2)
        await asyncio.sleep(1.0)
        events += await drained(stream.queue)
    assert not [e for e in events if isinstance(e, Down)]
    assert exchange.heard == ["hello"] and stream.conn_id == 1


async def test_a_link_that_stops_answering_pings_is_cut_though_data_still_comes() -> None:
    """Where the venue pings the client, the stream's own protocol pings watch the link:
    once ours go nowhere (and so its pings' answers do too), the link is dead to the venue,
    whatever still arrives from it."""
    exchange = Exchange()
    async with (venue(exchange, pump=True) as target,
                freezable(int(target.rsplit(":", 1)[1])) as (url, frozen),
                streaming(Channel(url, ping=None), ping_interval=0.1,
                          silence_timeout=0.4) as stream):
        await next_of(stream.queue, Up)
        await asyncio.sleep(0.3)
        frozen.set()
        at_freeze = exchange.numbered
        events = await asyncio.wait_for(up_to(stream.queue, Down), 5)
        down = events[-1]
    assert max(numbers(events)) > at_freeze + 20  # pushes went on coming until the cut
    assert down.cause is NotLive.EXCHANGE_UNREACHABLE
    assert down.reason == "no answer to a ping for 0.4 s"


@asynccontextmanager
async def freezable(port: int) -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A TCP relay to `port` that, once the event is set, lets nothing from the client
    through (the server's bytes still flow): a link half dead."""
    frozen = asyncio.Event()
    relays: list[asyncio.Task[Any]] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   drop: asyncio.Event | None) -> None:
        try:
            while data := await reader.read(1 << 16):
                if drop is None or not drop.is_set():
                    writer.write(data)
                    await writer.drain()
        finally:
            writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(reader, server_writer, frozen),
                             pipe(server_reader, writer, None), return_exceptions=True)

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        relays.append(asyncio.create_task(relay(reader, writer)))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", frozen
    finally:
        server.close()
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)


async def test_a_silent_link_is_cut_and_reported_as_the_exchange_out_of_reach() -> None:
    exchange = Exchange(quiet=True)
    async with venue(exchange) as url, streaming(Channel(url), ping_interval=0.1,
                                                 silence_timeout=0.4) as stream:
        await next_of(stream.queue, Up)
        down = await next_of(stream.queue, Down)
    assert down.cause is NotLive.EXCHANGE_UNREACHABLE and "silent for 0.4 s" in down.reason


async def test_a_refused_handshake_is_reported_with_its_cause_and_tried_again() -> None:
    channel = Channel("", refuse=True)
    async with venue(Exchange()) as url:
        channel.url = url
        async with streaming(channel) as stream:
            first = await next_of(stream.queue, Down)
            await next_of(stream.queue, Down)
    assert first.cause is NotLive.CREDENTIALS and "refused" in first.reason
    assert channel.opened >= 2


# -- connections replaced before the venue ends them ----------------------------------


async def test_connections_are_replaced_before_their_age_limit_with_no_gap() -> None:
    """The venue cuts every connection 1.2 s old; the stream replaces each before that,
    subscribing the next before letting the last go: the consumer sees one Up, no Down,
    and every numbered push the venue sent (to whichever connections it had)."""
    exchange = Exchange(cut_after=1.2)
    with capture_logs() as logs:
        async with (venue(exchange, pump=True) as url,
                    streaming(Channel(url, max_age_s=1.2)) as stream):
            await until(lambda: stream.stats["rotations"] >= 3)
            exchange.subscribed.clear()  # the pump stops: what was sent must all arrive
            sent = exchange.numbered
            events = await drained(stream.queue)
    assert [type(e) for e in events if not isinstance(e, Push)] == [Up]
    assert sent > 100 and numbers(events) >= set(range(1, sent + 1))
    rotated = [e for e in logs if e["event"] == "stream_rotated"]
    assert [(e["old_conn"], e["new_conn"]) for e in rotated[:3]] == [(1, 2), (2, 3), (3, 4)]
    assert all(0.8 <= e["age_s"] <= 1.0 for e in rotated)  # past the margin, before the cut


async def test_a_failed_replacement_keeps_the_old_connection_and_is_tried_again() -> None:
    exchange = Exchange(cut_after=1.5, answers={2: [json.dumps({"event": "busy"})]})
    channel = Channel("", max_age_s=1.5)
    with capture_logs() as logs:
        async with venue(exchange, pump=True) as url:
            channel.url = url
            async with streaming(channel) as stream:
                await until(lambda: stream.stats["rotations"] >= 1)
                exchange.subscribed.clear()
                sent = exchange.numbered
                events = await drained(stream.queue)
    assert [type(e) for e in events if not isinstance(e, Push)] == [Up]
    assert numbers(events) >= set(range(1, sent + 1))
    assert stream.stats["rotation_failures"] == 1 and channel.opened == 3
    [failed] = [e for e in logs if e["event"] == "stream_rotation_failed"]
    assert (failed["conn"], failed["attempt_conn"]) == (1, 2)
    assert failed["cause"] is NotLive.CREDENTIALS and "busy" in failed["reason"]
    [rotated] = [e for e in logs if e["event"] == "stream_rotated"]
    assert (rotated["old_conn"], rotated["new_conn"]) == (1, 3)


async def test_an_old_connection_that_ends_before_its_replacement_is_a_down() -> None:
    """Every attempt refused: the venue's cut ends the subscription, and the consumer
    is told, as at any drop (the next connection splices anew)."""
    busy = [json.dumps({"event": "busy"})]
    exchange = Exchange(cut_after=1.0, answers={n: busy for n in range(2, 200)})
    async with (venue(exchange) as url,
                streaming(Channel(url, max_age_s=1.0)) as stream):
        await next_of(stream.queue, Up)
        down = await next_of(stream.queue, Down)
    assert down.conn == 1 and down.cause is NotLive.DISCONNECTED and "too old" in down.reason
    assert stream.stats["rotation_failures"] >= 1 and stream.stats["rotations"] == 0


async def test_a_handover_replaces_the_connection_at_once() -> None:
    handover = json.dumps({"event": "handover"})
    exchange = Exchange(later={1: [(0.3, handover)]})
    async with (venue(exchange, pump=True) as url,
                streaming(Channel(url)) as stream):
        await next_of(stream.queue, Up)
        await until(lambda: stream.stats["rotations"] == 1, within=2)
        assert stream.stats["handovers"] == 1 and stream.conn == 2
        exchange.subscribed.clear()
        sent = exchange.numbered
        events = await drained(stream.queue)
    assert not [e for e in events if not isinstance(e, Push)]
    assert numbers(events) >= set(range(1, sent + 1))


@pytest.mark.parametrize("when", ["while subscribed", "while opening"])
async def test_a_subscription_the_venue_ends_is_a_down_with_its_cause(when: str) -> None:
    ended = json.dumps({"event": "ended"})
    exchange = (Exchange(later={1: [(0.2, ended)]}) if when == "while subscribed"
                else Exchange(answers={1: [ended, WELCOME]}))
    async with venue(exchange) as url, streaming(Channel(url)) as stream:
        down = await next_of(stream.queue, Down)
        assert await next_of(stream.queue, Up)  # and the next connection is tried
    assert down.conn == 1 and down.cause is NotLive.CREDENTIALS
    assert down.reason == "subscription ended by the exchange: key revoked"


class _AnswersAsCancelled:
    """A connection whose next frame arrives in the same loop turn as a cancel of the task
    reading it: the moment a stop (or a failed start) meets a stream that is opening."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None

    async def recv(self) -> str:
        assert self.task is not None
        asyncio.get_running_loop().call_soon(self.task.cancel)
        return WELCOME


async def test_a_cancel_that_meets_an_answer_while_opening_is_not_lost() -> None:
    """Python 3.11's `asyncio.wait_for` returned a frame that came as its task was
    cancelled and dropped the cancel: the tracker, told to stop (or failing its start)
    while a connection was opening, then waited for ever on a stream that would not end."""
    stream = Stream(Channel("ws://unused"), asyncio.Queue())
    ws = _AnswersAsCancelled()

    async def opening() -> None:
        await stream._reply(ws, [])  # type: ignore[arg-type]
        await asyncio.sleep(1)  # where the cancel lands, if it was kept

    ws.task = asyncio.create_task(opening())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(ws.task), 0.5)
    assert ws.task.cancelled()
