"""The simulator process: the aiohttp application that wires every face to one state,
the REST faults that wrap the exchange's paths, and the process's lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator import control
from simulator.faces.bitmart import rest_public, rest_v2, rest_v4, ws
from simulator.faces.bitmart.replies import v2_error, v4_error
from simulator.faces.bitmart.venue import VENUE_KEY, Venue
from simulator.state import SIM_KEY, Settings, Simulator
from tracker.venues.bitmart import protocol

EXCHANGE_PREFIXES = ("/v2/", "/spot/", "/system/", "/account/", "/contract/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def rest_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Slow, failing, throttled, trickling and endless answers on the exchange's REST
    paths, never on /control."""
    sim = request.app[SIM_KEY]
    path = request.path
    if not path.startswith(EXCHANGE_PREFIXES):
        return await handler(request)
    sim.stats["rest_requests"] += 1
    faults = sim.faults
    if faults.rest_slow_ms:
        sim.injected["rest_slow"] += 1
        await asyncio.sleep(faults.rest_slow_ms / 1000)
    if faults.rest_endless:
        sim.injected["rest_endless"] += 1
        return await endless(sim, request)
    v2 = path.startswith("/v2/")
    if sim.chance(faults.rest_5xx, "rest_5xx"):
        response: web.StreamResponse = (
            v2_error(500, "Internal server error") if v2
            else v4_error(request.app[VENUE_KEY], 500, 59002,
                          "Internal error, please try again later"))
    elif sim.chance(faults.rest_429, "rest_429"):
        response = (v2_error(429, "Too many requests") if v2
                    else v4_error(request.app[VENUE_KEY], 429, protocol.V4_RATE_LIMITED,
                                  "Request too many requests"))
    else:
        response = await handler(request)
    if faults.rest_trickle_ms and isinstance(response, web.Response) \
            and isinstance(response.body, bytes):
        sim.injected["rest_trickle"] += 1
        return await trickle(sim, request, response, response.body)
    return response


async def trickle(sim: Simulator, request: web.Request, response: web.Response,
                  body: bytes) -> web.StreamResponse:
    """The `rest_trickle_ms` fault: a correct answer with its true Content-Length, one byte
    per N ms, so every single read succeeds and only a deadline on the whole call ends it.
    Switching the fault off sends the rest at once."""
    slow = web.StreamResponse(status=response.status, reason=response.reason,
                              headers=response.headers)
    slow.content_length = len(body)
    await slow.prepare(request)
    try:
        for i in range(len(body)):
            if not sim.faults.rest_trickle_ms:
                await slow.write(body[i:])
                break
            await slow.write(body[i:i + 1])
            await asyncio.sleep(sim.faults.rest_trickle_ms / 1000)
        await slow.write_eof()
    except ConnectionError:  # the client gave up: what a deadline is for
        pass
    return slow


ENDLESS_CHUNK = b"0," * 32768


async def endless(sim: Simulator, request: web.Request) -> web.StreamResponse:
    """The `rest_endless` fault: 200, a chunked body that opens a JSON list and never ends
    while the fault is on, until the client goes away. Each write waits for the socket to
    drain, so the simulator's memory stays flat however long the client keeps reading."""
    answer = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    answer.enable_chunked_encoding()
    await answer.prepare(request)
    try:
        await answer.write(b"[")
        while sim.faults.rest_endless:
            await answer.write(ENDLESS_CHUNK)
            await asyncio.sleep(0)  # writes that never block would starve everything else
        await answer.write_eof()
    except ConnectionError:
        pass
    return answer


def build_app(sim: Simulator) -> web.Application:
    app = web.Application(middlewares=[rest_faults], client_max_size=1024 * 1024)
    app[SIM_KEY] = sim
    app[VENUE_KEY] = Venue(sim)
    for module in (rest_v2, rest_v4, rest_public, ws, control):
        app.add_routes(module.routes())

    async def background(app: web.Application) -> Any:
        task = asyncio.create_task(sim.run_flow())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(background)
    app.on_shutdown.append(ws.close_all)
    return app


@dataclass
class Running:
    """A started simulator: where it listens, and how to stop it."""

    sim: Simulator
    runner: web.AppRunner
    host: str
    port: int

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/user?protocol=1.1"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start(settings: Settings) -> Running:
    sim = Simulator(settings)
    runner = web.AppRunner(build_app(sim), access_log=None, handle_signals=False,
                           shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Running(sim, runner, host, port)
