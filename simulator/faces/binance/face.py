"""Binance's face as a whole: what `simulator.app` installs."""

from __future__ import annotations

from aiohttp import web

from simulator.faces.binance import admin, rest, ws
from simulator.faces.binance.venue import VENUE_KEY, Venue
from simulator.state import Simulator
from tracker.venues.binance import protocol


def install(app: web.Application, sim: Simulator) -> Venue:
    venue = Venue(sim)
    app[VENUE_KEY] = venue
    for module in (rest, ws, admin):
        app.add_routes(module.routes())

    async def used_weight(request: web.Request, response: web.StreamResponse) -> None:
        """Every answer on the face's REST paths says the IP's used weight, those the REST
        faults make included."""
        if request.path.startswith(venue.rest_prefixes):
            response.headers[protocol.USED_WEIGHT_HEADER] = str(
                venue.used(request.remote or "?"))

    app.on_response_prepare.append(used_weight)
    return venue
