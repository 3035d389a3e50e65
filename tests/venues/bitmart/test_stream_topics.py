"""How the stream subscribes, by the number of symbols, over a real socket to the simulator.

BitMart takes at most 100 topics on a private connection (protocol §3.6), so up to 100
symbols get one topic each and more get the one `ALL_SYMBOLS` topic, whose pushes of other
symbols the stream drops (and counts) before anything else sees them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from simulator.app import Running
from simulator.state import DEMO_ACCOUNT, Settings
from simulator.store import SymbolSpec
from tests.conftest import place
from tracker.events import Event, Push, Up
from tracker.exchange.stream import Stream
from tracker.venues.bitmart.channel import BitMartChannel
from tracker.venues.bitmart.keys import Keys
from tracker.venues.bitmart.protocol import ALL_ORDERS_TABLE, ALL_SYMBOLS, order_topic

TRACKED = tuple(f"T{i:03d}_USDT" for i in range(300))
UNTRACKED = ("U000_USDT", "U001_USDT", "U002_USDT")


@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, symbols=tuple(SymbolSpec(name, Decimal(100))
                                          for name in (*TRACKED, *UNTRACKED)))


class Opened:
    """A running stream and the queue it reports to."""

    def __init__(self, stream: Stream, queue: asyncio.Queue[Event]) -> None:
        self.stream = stream
        self.queue = queue

    async def next(self, within: float = 5.0) -> Event:
        return await asyncio.wait_for(self.queue.get(), within)

    async def push(self) -> Push:
        event = await self.next()
        assert isinstance(event, Push), event
        return event


@asynccontextmanager
async def open_stream(sim: Running, symbols: list[str] | None) -> AsyncIterator[Opened]:
    queue: asyncio.Queue[Event] = asyncio.Queue()
    keys = Keys(DEMO_ACCOUNT.api_key, DEMO_ACCOUNT.secret, DEMO_ACCOUNT.memo)
    stream = Stream(BitMartChannel(sim.ws_url, keys, symbols), queue)
    task = asyncio.create_task(stream.run())
    try:
        yield Opened(stream, queue)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def topics_held(sim: Running) -> list[str]:
    [session] = sim.sim.ws_sessions
    return list(session.topics)


async def order(control: httpx.AsyncClient, symbol: str) -> dict[str, Any]:
    return await place(control, symbol=symbol, price="99", size="1")


async def test_100_symbols_get_a_topic_each(sim: Running, control: httpx.AsyncClient) -> None:
    symbols = list(TRACKED[:100])
    with capture_logs() as logs:
        async with open_stream(sim, symbols) as s:
            assert isinstance(await s.next(), Up)
            assert topics_held(sim) == [order_topic(name) for name in symbols]
            placed = await order(control, symbols[-1])
            push = await s.push()
            assert [row.order_id for row in push.data] == [placed["orderId"]]
    [up] = [e for e in logs if e["event"] == "stream_up"]
    assert (up["mode"], up["topics"], up["symbols"]) == ("per_symbol", 100, 100)


async def test_more_than_100_symbols_take_all_symbols_and_drop_the_others(
        sim: Running, control: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        async with open_stream(sim, list(TRACKED)) as s:
            assert isinstance(await s.next(), Up)
            assert topics_held(sim) == [ALL_SYMBOLS]
            for symbol in UNTRACKED:
                await order(control, symbol)
            ours = await order(control, TRACKED[-1])
            # Pushes keep their order on one connection: when ours arrives, the three
            # before it have been read and dropped.
            push = await s.push()
            assert [row.order_id for row in push.data] == [ours["orderId"]]
            assert s.stream.stats["ignored"] == 3
            assert s.queue.empty()
    [up] = [e for e in logs if e["event"] == "stream_up"]
    assert (up["mode"], up["topics"], up["symbols"]) == ("all_symbols", 1, 300)


async def test_malformed_elements_still_reach_the_codec(sim: Running) -> None:
    async with open_stream(sim, list(TRACKED)) as s:
        assert isinstance(await s.next(), Up)
        ours = {"symbol": TRACKED[0], "order_id": "1"}
        theirs = {"symbol": UNTRACKED[0], "order_id": "2"}
        malformed = ["not an object", {"symbol": 5, "order_id": "3"}, {"order_id": "4"}, None]
        table = ALL_ORDERS_TABLE
        assert sim.sim.send_raw(json.dumps({"table": table, "data": [theirs, theirs]})) == 1
        assert sim.sim.send_raw(json.dumps({"table": table,
                                             "data": [theirs, ours, *malformed]})) == 1
        # The first frame held nothing of ours: no push at all for it.
        push = await s.push()
        assert push.data == [ours, *malformed]
        assert s.stream.stats["ignored"] == 3
        assert s.stream.stats["bad_frames"] == 0


async def test_every_symbol_takes_all_symbols_unfiltered(
        sim: Running, control: httpx.AsyncClient) -> None:
    async with open_stream(sim, None) as s:
        assert isinstance(await s.next(), Up)
        assert topics_held(sim) == [ALL_SYMBOLS]
        theirs = await order(control, UNTRACKED[0])
        push = await s.push()
        assert [row.order_id for row in push.data] == [theirs["orderId"]]
        assert s.stream.stats["ignored"] == 0
