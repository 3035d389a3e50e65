"""BitMart's face in one simulator, as the core sees it (`simulator.state.Face`), and what
BitMart's rules keep beside the core's state: per account, its token requests and its v2
and v4 rate-limit windows; venue-wide, the recent connects the WebSocket admits and the
number in each v4 envelope's trace.

The core holds orders, accounts and faults for every venue alike; these are BitMart's
rules, so they live with its face, and its handlers reach them as `request.app[VENUE_KEY]`.
"""

from __future__ import annotations

import uuid
from collections import deque

from aiohttp import web

from simulator.burst import LoadPush
from simulator.faces.bitmart import load
from simulator.faces.bitmart.ratelimit import V4_LIMITS, FixedWindow
from simulator.faces.bitmart.replies import v2_error, v4_error
from simulator.state import Simulator
from tracker.venues.bitmart import protocol


class AccountLimits:
    """One account's limits: token requests a minute, v2 calls a second per token, and each
    v4 endpoint's calls per key."""

    def __init__(self, v2_rate_limit: int) -> None:
        self.token_requests: deque[int] = deque()  # when each recent v2 token was asked for
        self.v2 = FixedWindow(v2_rate_limit, 1)
        self.v4 = {name: FixedWindow(n, w) for name, (n, w) in V4_LIMITS.items()}


class Venue:
    """The face the core calls, and the state BitMart's handlers share."""

    name = "bitmart"
    rest_prefixes = ("/v2/", "/spot/", "/system/", "/account/", "/contract/")
    ws_path = "/user?protocol=1.1"

    def symbol(self, name: str) -> str:
        return name  # the simulator's symbols are spelled as BitMart's

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.limits = {name: AccountLimits(sim.settings.v2_rate_limit)
                       for name in sim.accounts}
        self.connects: deque[float] = deque()  # when each recent WebSocket connected (loop time)
        self._traces = 0

    def trace(self) -> str:
        self._traces += 1
        return f"{uuid.uuid4().hex}.60.{self._traces}"

    def refusal(self, path: str, status: int) -> web.Response:
        """v2's bare message on its paths, v4's envelope on every other."""
        v2 = path.startswith("/v2/")
        if status == 429:
            return (v2_error(429, "Too many requests") if v2 else
                    v4_error(self, 429, protocol.V4_RATE_LIMITED, "Request too many requests"))
        return (v2_error(500, "Internal server error") if v2 else
                v4_error(self, 500, 59002, "Internal error, please try again later"))

    def load_frame(self, push: LoadPush) -> str | bytes:
        return load.frame([load.row(push)], self.sim.settings.compress)


VENUE_KEY: web.AppKey[Venue] = web.AppKey("bitmart", Venue)
