"""Binance's face in one simulator, as the core sees it (`simulator.state.Face`), and what
Binance's rules keep beside the core's state: the symbols in both spellings, each IP's
request weight and ban, the keys revoked, the client ids of cancels and amends, the
recent history of each order (for the `rest_stale_ms` fault) and the WebSocket API's
sessions.

Its handlers reach it as `request.app[VENUE_KEY]`.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from simulator.burst import LoadPush
from simulator.faces.binance import load
from simulator.faces.binance.wire import binance_symbol
from simulator.state import AccountState, Simulator
from simulator.store import OrderChange, SimOrder
from tracker.venues.binance import protocol


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None
           ) -> web.Response:
    """A REST answer as Binance writes one: compact JSON, UTF-8 text unescaped."""
    return web.json_response(body, status=status, headers=headers, dumps=_compact)


def _compact(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def error(status: int, code: int, message: str,
          headers: dict[str, str] | None = None) -> web.Response:
    """Binance's REST error body: `{"code", "msg"}`."""
    return answer({"code": code, "msg": message}, status, headers)


@dataclass
class Weight:
    """One IP's request weight in the current minute, and its ban."""

    minute: int = 0
    used: int = 0
    limited: bool = False  # refused with 429 in this minute
    banned_until: int = 0  # server ms


@dataclass(frozen=True)
class Verdict:
    status: int  # 200 (admitted), 429 or 418
    retry_after_s: int = 0

    def refusal(self, limit: int) -> tuple[int, str]:
        """The code and message of a refused call ([BN] errors.md -1003)."""
        if self.status == protocol.HTTP_BANNED:
            return protocol.TOO_MANY_REQUESTS, ("Way too much request weight used; IP banned "
                                                f"for {self.retry_after_s} s.")
        return protocol.TOO_MANY_REQUESTS, (f"Too much request weight used; current limit is "
                                            f"{limit} request weight per 1 MINUTE.")


class Session(Protocol):
    """What the control API's Binance calls ask of a WebSocket API connection
    (`simulator.faces.binance.ws.Session`, which imports this module)."""

    def announce_shutdown(self, delay_s: float) -> None: ...

    def end_all(self, account: AccountState | None = None, notify: bool = True) -> int: ...

    def revoke(self, account: AccountState) -> None: ...


class Venue:
    """The face the core calls, and the state Binance's handlers share."""

    name = "binance"
    rest_prefixes = ("/api/v3/",)
    ws_path = "/ws-api/v3"

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.store_names = {binance_symbol(name): name for name in sim.symbols}
        self.weights: dict[str, Weight] = {}
        self.revoked: set[str] = set()  # names of the accounts whose key was revoked
        # The cancel request's own client id of each canceled order (`c` of its event and
        # `clientOrderId` of the cancel's answer), and the id an amend replaced (`C`).
        self.cancel_ids: dict[str, str] = {}
        self.replaced_ids: dict[str, str] = {}
        self.history: dict[str, list[SimOrder]] = {}  # order id -> its recent snapshots
        self.sessions: set[Session] = set()  # the WebSocket API's connections
        for account in sim.accounts.values():
            account.store.listeners.append(self._remember)

    # -- the core's questions ------------------------------------------------------------

    def refusal(self, path: str, status: int) -> web.Response:
        if status == 429:
            return error(429, protocol.TOO_MANY_REQUESTS, "Too many requests.",
                         {protocol.RETRY_AFTER: "1"})
        return error(500, -1001, "Internal error; unable to process your request. "
                                 "Please try again.")

    def load_frame(self, push: LoadPush) -> str | bytes:
        return load.frame(push)

    # -- symbols -------------------------------------------------------------------------

    def symbol(self, name: str) -> str:
        return binance_symbol(name)

    def store_symbol(self, name: str) -> str | None:
        """The core's name of a Binance symbol, if the simulator trades it."""
        return self.store_names.get(name)

    # -- request weight ------------------------------------------------------------------

    def charge(self, ip: str, weight: int) -> Verdict:
        """Count a call's weight against its IP's minute. Past the limit the call is
        refused (429, Retry-After: until the minute ends); a call made while so limited,
        the 429 ignored, bans the IP (418) for `binance_ban_s`, after which the minute's
        weight counts on."""
        now = self.sim.now_ms()
        settings = self.sim.settings
        state = self.weights.setdefault(ip, Weight())
        minute = now // 60_000
        if state.minute != minute:
            state.minute, state.used, state.limited = minute, 0, False
        if state.banned_until > now:
            return Verdict(protocol.HTTP_BANNED, math.ceil((state.banned_until - now) / 1000))
        if state.banned_until:  # a ban just over
            state.banned_until, state.limited = 0, False
        if state.limited:
            state.banned_until = now + int(settings.binance_ban_s * 1000)
            self.sim.stats["binance_bans"] += 1
            return Verdict(protocol.HTTP_BANNED, math.ceil(settings.binance_ban_s))
        if state.used + weight > settings.binance_weight_limit:
            state.limited = True
            return Verdict(protocol.HTTP_RATE_LIMITED,
                           math.ceil(((minute + 1) * 60_000 - now) / 1000))
        state.used += weight
        return Verdict(200)

    def used(self, ip: str) -> int:
        state = self.weights.get(ip)
        return state.used if state and state.minute == self.sim.now_ms() // 60_000 else 0

    # -- accounts ------------------------------------------------------------------------

    def account_by_key(self, api_key: str) -> AccountState | None:
        """The account of an API key, unless the key was revoked."""
        account = self.sim.by_key.get(api_key)
        return None if account is None or account.name in self.revoked else account

    def cancel_id(self, order_id: str) -> str:
        """The client id of the cancel that ended an order: the one its request gave, else
        one made now (an order ended by the flow or the control API), kept so every event
        and answer says the same."""
        return self.cancel_ids.setdefault(order_id, "cancel" + secrets.token_hex(8))

    # -- history, for the rest_stale_ms fault --------------------------------------------

    def _remember(self, change: OrderChange) -> None:
        """Keep an order's snapshots of the fault's span, and the last one before it."""
        snapshots = self.history.setdefault(change.order.order_id, [])
        snapshots.append(change.order)
        horizon = change.order.update_time - self.sim.faults.rest_stale_ms
        while len(snapshots) > 1 and snapshots[1].update_time <= horizon:
            snapshots.pop(0)

    def as_of(self, order: SimOrder, stale_ms: int) -> SimOrder | None:
        """The order as it stood `stale_ms` ago (None: it did not exist yet)."""
        horizon = self.sim.now_ms() - stale_ms
        found = None
        for snapshot in self.history.get(order.order_id, [order]):
            if snapshot.update_time > horizon:
                break
            found = snapshot
        return found

    def open_orders(self, account: AccountState, symbol: str | None) -> list[SimOrder]:
        """What a REST read sees: the open orders now, or, with `rest_stale_ms`, as they
        stood that long ago (an order closed since still open, one opened since not yet
        there), in creation order either way."""
        stale = self.sim.faults.rest_stale_ms
        if not stale:
            return account.store.open_orders(symbol)
        self.sim.injected["rest_stale"] += 1
        seen = (self.as_of(o, stale) for o in account.store.orders.values()
                if symbol in (None, o.symbol))
        return [o for o in seen if o is not None and o.is_open]


VENUE_KEY: web.AppKey[Venue] = web.AppKey("binance", Venue)
