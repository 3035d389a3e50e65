"""The control API's calls that only OKX's face answers (the simulator's own, not OKX's):
announce a service upgrade (64008), delete an account's key (4007)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.control import BadControl, account_of, endpoint
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
    delay = body.get("delay_s", sim.settings.okx_notice_delay_s)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 3600:
        raise BadControl("delay_s must be a number of seconds in [0, 3600]")
    sessions = list(request.app[VENUE_KEY].sessions)
    for session in sessions:
        session.announce_upgrade(float(delay))
    sim.injected["okx_upgrade_notice"] += len(sessions)
    return {"announced": len(sessions)}


async def revoke(sim: Simulator, body: dict[str, Any], request: web.Request) -> Any:
    """`{"account"?, "revoked"?: true}`: the account's key is deleted: REST calls answer
    50111, logins 60009, its connections close with 4007; `false` restores it."""
    account = account_of(sim, body, request)
    revoked = body.get("revoked", True)
    if not isinstance(revoked, bool):
        raise BadControl("revoked must be true or false")
    venue = request.app[VENUE_KEY]
    if not revoked:
        venue.revoked.discard(account.name)
        return {"account": account.name, "revoked": False}
    venue.revoked.add(account.name)
    for session in list(venue.sessions):
        session.revoke(account)
    sim.injected["okx_key_revoked"] += 1
    return {"account": account.name, "revoked": True}
