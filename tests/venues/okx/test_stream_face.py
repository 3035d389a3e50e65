"""The core's Stream with OKX's channel against the simulator's OKX face: OKX's 30 s idle
cut (here 1 s) never reaches a quiet subscription kept up by text pings, a 64008 notice is
a handover with no moment not live, and a deleted key, a login refused and a subscription
ended by the connection count are reconnects with their reasons."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from simulator.app import Running
from simulator.state import AccountSettings, Settings
from tests.conftest import place
from tests.simulator.okx_client import MAIN
from tests.streaming import streaming, taken, until
from tracker.codec import OrderUpdate
from tracker.events import Down, Event, Push, Up
from tracker.exchange.stream import Stream
from tracker.reasons import NotLive
from tracker.venues.okx.channel import OkxChannel

IDLE_S = 1.0  # the face's idle cut (OKX's 30 s)


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    return Settings(port=0, accounts=(AccountSettings("main", MAIN),),
                    open_orders_per_symbol=0, okx_idle_timeout_s=IDLE_S,
                    **getattr(request, "param", {}))


def okx_stream(sim: Running, *, ping_interval: float = 0.3, silence_timeout: float = 0.9
               ) -> AbstractAsyncContextManager[Stream]:
    channel = OkxChannel(sim.ws_urls["okx"], MAIN.api_key, MAIN.secret, MAIN.passphrase,
                         ["BTC-USDT"])
    return streaming(channel, ping_interval=ping_interval, silence_timeout=silence_timeout)


async def next_push(stream: Stream, events: list[Event]) -> Any:
    await until(lambda: any(isinstance(e, Push) for e in taken(stream.queue, events)))
    push = next(e for e in events if isinstance(e, Push))
    [update] = push.data
    assert isinstance(update, OrderUpdate), update  # read whole by the codec's fast path
    return update


async def test_text_pings_keep_a_quiet_subscription_past_the_idle_cut(
        sim: Running, control: httpx.AsyncClient) -> None:
    async with okx_stream(sim) as stream:
        await until(lambda: stream.conn_id == 1 and not stream.queue.empty())
        await asyncio.sleep(3 * IDLE_S)  # no order: only our pings and OKX's pongs
        order = await place(control, account="main")
        events: list[Event] = []
        update = await next_push(stream, events)
        assert update.order_id == order["orderId"]
        assert [type(e) for e in events if not isinstance(e, Push)] == [Up]
        assert stream.conn_id == 1 and stream.stats["silences"] == 0


async def test_without_pings_in_time_okx_cuts_the_connection(sim: Running) -> None:
    """What the pings prevent (and why `ping_interval` must stay under `idle_cut_s`): a
    subscription quiet for the idle cut is closed with 4004."""
    async with okx_stream(sim, ping_interval=5.0, silence_timeout=10.0) as stream:
        await until(lambda: stream.reconnects >= 1, within=3 * IDLE_S + 2)
        down = [e for e in taken(stream.queue) if isinstance(e, Down)]
        assert down and down[0].cause is NotLive.DISCONNECTED and "4004" in down[0].reason


async def test_a_64008_notice_is_a_handover_with_no_moment_not_live(
        sim: Running, control: httpx.AsyncClient) -> None:
    async with okx_stream(sim) as stream:
        await until(lambda: stream.conn_id == 1 and not stream.queue.empty())
        notice = await control.post("/okx/notice", json={"delay_s": 1.0})
        assert notice.json() == {"announced": 1}
        await until(lambda: stream.stats["rotations"] == 1, within=2)  # before the close
        assert stream.stats["handovers"] == 1 and stream.conn_id == 2
        await asyncio.sleep(1.5)  # the old connection's close comes and goes
        order = await place(control, account="main")
        events: list[Event] = []
        assert (await next_push(stream, events)).order_id == order["orderId"]
        assert [type(e) for e in events if not isinstance(e, Push)] == [Up]
        assert stream.reconnects == 0


async def test_a_deleted_key_ends_the_connection_and_the_next_login_says_why(
        sim: Running, control: httpx.AsyncClient) -> None:
    async with okx_stream(sim) as stream:
        await until(lambda: stream.conn_id == 1 and not stream.queue.empty())
        revoked = await control.post("/okx/revoke", json={"account": "main"})
        assert revoked.status_code == 200, revoked.text
        events: list[Event] = []
        await until(lambda: len([e for e in taken(stream.queue, events)
                                 if isinstance(e, Down)]) >= 2)
        first, second = [e for e in events if isinstance(e, Down)][:2]
        assert first.cause is NotLive.DISCONNECTED and "4007" in first.reason
        assert second.cause is NotLive.CREDENTIALS and "60009" in second.reason
        assert "check api_key, api_secret and passphrase" in second.reason
        assert MAIN.secret not in second.reason and MAIN.passphrase not in second.reason


@pytest.mark.parametrize("settings", [{"okx_channel_conn_limit": 0}], indirect=True)
async def test_a_subscription_ended_by_the_connection_count_is_rate_limited(
        sim: Running) -> None:
    async with okx_stream(sim) as stream:
        await until(lambda: stream.reconnects >= 1)
        down = [e for e in taken(stream.queue) if isinstance(e, Down)]
        assert down[0].cause is NotLive.RATE_LIMITED and "close the others" in down[0].reason
