"""The control API's calls that only OKX's face answers (the simulator's own, not OKX's):
announce a service upgrade (64008), delete an account's key (4007)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.control import endpoint, revoke_key, seconds
from simulator.faces.okx.venue import VENUE_KEY
from simulator.state import Simulator


def routes() -> list[web.RouteDef]:
    return [
        web.post("/control/okx/notice", endpoint(notice)),
        web.post("/control/okx/revoke", endpoint(revoke)),
    ]


async def notice(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """`{"delay_s"?: S}`: every private connection gets the 64008 notice, and is closed
    (1001) S seconds later (default `okx_notice_delay_s`, OKX's 60)."""
    delay = seconds(body, "delay_s", sim.settings.okx_notice_delay_s)
    sessions = list(request.app[VENUE_KEY].sessions)
    for session in sessions:
        session.announce_upgrade(delay)
    sim.injected["okx_upgrade_notice"] += len(sessions)
    return {"announced": len(sessions)}


async def revoke(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """`{"account"?, "revoked"?: true}`: the account's key is deleted: REST calls answer
    50111, logins 60009, its connections close with 4007; `false` restores it."""
    venue = request.app[VENUE_KEY]
    return revoke_key(sim, body, request, venue.revoked, venue.sessions, "okx_key_revoked")
