"""OKX's face as a whole: what `simulator.app` installs."""

from __future__ import annotations

from aiohttp import web

from simulator.faces.okx import admin, rest, ws
from simulator.faces.okx.venue import VENUE_KEY, Venue
from simulator.state import Simulator


def install(app: web.Application, sim: Simulator) -> Venue:
    venue = Venue(sim)
    app[VENUE_KEY] = venue
    for module in (rest, ws, admin):
        app.add_routes(module.routes())
    return venue
