"""The core's Stream with Binance's channel against the simulator's Binance face: what
Binance does to a connection (its pings, a quiet subscription, a shutdown announced, its
age limit) costs the book no reconnect, and an ended subscription is one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from simulator.app import Running
from simulator.state import Settings
from tests.conftest import place
from tests.simulator.binance_client import Keys
from tests.streaming import streaming, taken, until
from tracker.codec import OrderUpdate
from tracker.events import Down, Event, Push, Up
from tracker.exchange.stream import Stream
from tracker.reasons import NotLive
from tracker.venues.binance.channel import BinanceChannel

KEYS = Keys()
MAX_AGE_S = 3.0


@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, accounts=KEYS.accounts, open_orders_per_symbol=0,
                    binance_ping_s=0.2, binance_pong_timeout_s=1.0,
                    binance_max_age_s=MAX_AGE_S, binance_shutdown_delay_s=1.0)


def channel(sim: Running) -> BinanceChannel:
    return BinanceChannel(sim.ws_urls["binance"], KEYS.api_key("hmac"), KEYS.signer("hmac"),
                          ["BTCUSDT"])


@pytest.fixture
async def stream(sim: Running) -> AsyncIterator[Stream]:
    quiet = channel(sim)
    quiet.max_age_s = MAX_AGE_S  # the face's, not Binance's 24 h
    # No ping of ours within the test: what keeps the quiet link up is the stream answering
    # the face's pings, and no cut for the silence of data.
    async with streaming(quiet, ping_interval=30, silence_timeout=0.6) as running:
        yield running


async def test_a_quiet_stream_a_shutdown_and_the_age_limit_cost_no_reconnect(
        stream: Stream, control: httpx.AsyncClient) -> None:
    await until(lambda: stream.conn_id == 1 and not stream.queue.empty())
    await asyncio.sleep(1.5)  # quiet, past the silence timeout: the face's pings answered
    assert stream.stats["rotations"] == 0
    await control.post("/binance/shutdown", json={"delay_s": 1.0})
    await until(lambda: stream.stats["rotations"] == 1, within=2)  # before the face's cut
    assert stream.stats["handovers"] == 1
    await until(lambda: stream.stats["rotations"] >= 2)  # the next one by its age
    order = await place(control, account="hmac")
    events: list[Event] = []
    await until(lambda: any(isinstance(e, Push) for e in taken(stream.queue, events)))
    assert [type(e) for e in events if not isinstance(e, Push)] == [Up]
    [push] = [e for e in events if isinstance(e, Push)]
    assert booked(push) == f"BTCUSDT:{order['orderId']}"


def booked(push: Push) -> str:
    """The book's id of a push's one order: the channel reads the face's events whole (the
    codec's fast path), so the push carries the update, not the event."""
    [update] = push.data
    assert isinstance(update, OrderUpdate), update
    return update.order_id


async def test_an_ended_subscription_is_a_reconnect(stream: Stream,
                                                    control: httpx.AsyncClient) -> None:
    await until(lambda: not stream.queue.empty())
    await control.post("/binance/terminate", json={})
    await until(lambda: stream.reconnects == 1)
    down = [e for e in taken(stream.queue) if isinstance(e, Down)]
    assert [d.cause for d in down] == [NotLive.DISCONNECTED]
    assert "eventStreamTerminated" in down[0].reason


async def test_our_own_pings_are_answered_and_the_stream_goes_on(
        sim: Running, control: httpx.AsyncClient) -> None:
    """The stream's protocol pings (every 0.2 s here, every `ping_interval` in the daemon)
    get the face's pongs, and the events keep coming after many of them: the face once
    stopped writing on a connection at our first ping."""
    async with streaming(channel(sim), ping_interval=0.2, silence_timeout=0.6) as running:
        await until(lambda: running.conn_id == 1 and not running.queue.empty())
        await asyncio.sleep(2.0)  # ten pings of ours, each needing its pong within 0.6 s
        order = await place(control, account="hmac")
        events: list[Event] = []
        await until(lambda: any(isinstance(e, Push) for e in taken(running.queue, events)))
        assert [type(e) for e in events if not isinstance(e, Push)] == [Up]
        push = next(e for e in events if isinstance(e, Push))
        assert booked(push) == f"BTCUSDT:{order['orderId']}"
        assert running.stats["silences"] == 0 and running.conn_id == 1
