"""The control API's calls that only Binance's face answers (the simulator's own, not
Binance's): announce a shutdown, end subscriptions, revoke an account's key."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.control import endpoint, only_account, revoke_key, seconds
from simulator.faces.binance.venue import VENUE_KEY
from simulator.faces.binance.ws import Session
from simulator.state import Simulator


def routes() -> list[web.RouteDef]:
    return [
        web.post("/control/binance/shutdown", endpoint(shutdown)),
        web.post("/control/binance/terminate", endpoint(terminate)),
        web.post("/control/binance/revoke", endpoint(revoke)),
    ]


def _sessions(sim: Simulator, request: web.Request) -> list[Session]:
    return list(request.app[VENUE_KEY].sessions)


async def shutdown(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """`{"delay_s"?: S}`: every WebSocket API connection gets `serverShutdown`, and is
    closed S seconds later (default `binance_shutdown_delay_s`)."""
    delay = seconds(body, "delay_s", sim.settings.binance_shutdown_delay_s)
    sessions = _sessions(sim, request)
    for session in sessions:
        session.announce_shutdown(delay)
    sim.injected["server_shutdown"] += len(sessions)
    return {"announced": len(sessions)}


async def terminate(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """Every subscription (or the account's) ends with `eventStreamTerminated`; the
    connections stay open."""
    account = only_account(sim, body, request)
    ended = sum(session.end_all(account) for session in _sessions(sim, request))
    sim.injected["stream_terminated"] += ended
    return {"terminated": ended}


async def revoke(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """`{"account"?, "revoked"?: true}`: the account's key stops working (REST -2015, its
    WebSocket subscriptions and logon end with a 401 frame); `false` restores it."""
    venue = request.app[VENUE_KEY]
    return revoke_key(sim, body, request, venue.revoked, venue.sessions, "key_revoked")
