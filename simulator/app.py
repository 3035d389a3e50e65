"""The simulator process: the aiohttp application that installs every face over one core
state, with the control API and the REST faults, and the process's lifecycle.

It is the one module that imports the faces: a venue's face is added to `FACES` here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from simulator import control
from simulator.faces.binance import face as binance
from simulator.faces.bitmart import face as bitmart
from simulator.faces.okx import face as okx
from simulator.rest_faults import rest_faults
from simulator.state import SIM_KEY, Face, Settings, Simulator

# Each face's installer: it adds the face's routes and state to the application.
FACES: tuple[Callable[[web.Application, Simulator], Face], ...] = (bitmart.install,
                                                                  binance.install,
                                                                  okx.install)


def build_app(sim: Simulator) -> web.Application:
    app = web.Application(middlewares=[rest_faults], client_max_size=1024 * 1024)
    app[SIM_KEY] = sim
    for install in FACES:
        face = install(app, sim)
        sim.faces[face.name] = face
    app.add_routes(control.routes())

    async def background(app: web.Application) -> Any:
        task = asyncio.create_task(sim.run_flow())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(background)
    app.on_shutdown.append(close_connections)
    return app


async def close_connections(app: web.Application) -> None:
    """Every client's WebSocket gets a close frame (1001, going away) before the process
    ends, so that a client sees a shutdown, not a network fault."""
    for connection in list(app[SIM_KEY].ws_sessions):
        await connection.ws.close(code=1001, message=b"server shutdown")


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
    def ws_urls(self) -> dict[str, str]:
        """Each face's WebSocket URL, by the face's name."""
        return {name: f"ws://{self.host}:{self.port}{face.ws_path}"
                for name, face in self.sim.faces.items()}

    @property
    def ws_url(self) -> str:
        """BitMart's WebSocket URL: what the simulator's first users (the demo, the harness)
        know as its one WebSocket."""
        return self.ws_urls["bitmart"]

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
