"""BitMart's face as a whole: what `simulator.app` installs."""

from __future__ import annotations

from aiohttp import web

from simulator.faces.bitmart import rest_public, rest_v2, rest_v4, ws
from simulator.faces.bitmart.venue import VENUE_KEY, Venue
from simulator.state import Simulator


def install(app: web.Application, sim: Simulator) -> Venue:
    venue = Venue(sim)
    app[VENUE_KEY] = venue
    for module in (rest_v2, rest_v4, rest_public, ws):
        app.add_routes(module.routes())
    return venue
