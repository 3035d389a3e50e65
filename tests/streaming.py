"""The core's Stream run in a test, waits on what it queues, and the socket half it plays
for a channel opened by hand: shared by the stream's own tests (tests/test_stream.py) and
every venue's channel against its face (tests/venues/*/test_face.py, test_stream_face.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import websockets

from tracker.events import Event
from tracker.exchange.errors import StreamError
from tracker.exchange.stream import Stream
from tracker.frames import Ack, Ended, ErrorEvent, Frame, Unexpected
from tracker.venue import Channel


@asynccontextmanager
async def streaming(channel: Channel, **timing: float) -> AsyncIterator[Stream]:
    """A Stream running on `channel` for the block, its back-offs short (a test's)."""
    stream = Stream(channel, asyncio.Queue(), backoff_initial=0.05, backoff_max=0.05,
                    auth_backoff=0.05, **timing)
    task = asyncio.create_task(stream.run())
    try:
        yield stream
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.02)


def taken(queue: asyncio.Queue[Event], into: list[Event] | None = None) -> list[Event]:
    """What the queue holds, moved `into` a list (kept across calls)."""
    events = [] if into is None else into
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


class Connection:
    """The socket half the core's Stream plays: send, the next reply (pushes that come
    first kept; a refusal that ends the connection raised, as the stream raises it), and
    the frames after."""

    def __init__(self, ws: websockets.ClientConnection, channel: Channel) -> None:
        self.ws, self.channel = ws, channel
        self.early: list[Frame] = []

    async def reply(self) -> Any:
        while True:
            decoded = self.channel.decode(await asyncio.wait_for(self.ws.recv(), 5))
            if isinstance(decoded, Ended):
                raise StreamError(decoded.reason, cause=decoded.cause)
            if isinstance(decoded, Ack | ErrorEvent | Unexpected):
                return decoded.body
            self.early.append(decoded)

    async def frame(self) -> Frame:
        if self.early:
            return self.early.pop(0)
        return self.channel.decode(await asyncio.wait_for(self.ws.recv(), 5))
