"""OKX's face in one simulator, as the core sees it (`simulator.state.Face`), and what
OKX's rules keep beside the core's state: the instruments in both spellings, the rate
windows of the order reads, the keys revoked, the `reqId` of each amend, each account's
uid, and the private WebSocket's sessions.

Its handlers reach it as `request.app[VENUE_KEY]`.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web

from simulator.burst import LoadPush
from simulator.faces.okx import load
from simulator.faces.okx.wire import okx_symbol
from simulator.state import AccountState, Simulator
from tracker.venues.okx import protocol

SERVICE_UNAVAILABLE_MSG = "Service temporarily unavailable. Please try again later."


def answer(data: list[Any], code: str = protocol.SUCCESS, msg: str = "",
           status: int = 200, extra: dict[str, str] | None = None) -> web.Response:
    """OKX's envelope: `{"code": "0", "msg": "", "data": [...]}`, compact JSON."""
    body = json.dumps({"code": code, "msg": msg, "data": data, **(extra or {})},
                      separators=(",", ":"), ensure_ascii=False)
    return web.Response(text=body, status=status, content_type="application/json")


class Session(Protocol):
    """What the control API's OKX calls ask of a private WebSocket connection
    (`simulator.faces.okx.ws.Session`, which imports this module)."""

    def announce_upgrade(self, delay_s: float) -> None: ...

    def revoke(self, account: AccountState) -> None: ...


class Window:
    """A sliding window of calls per key: at most `limit` in any `window_ms`."""

    def __init__(self, limit: int, window_ms: int) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self.calls: dict[Any, deque[int]] = {}

    def admit(self, key: Any, now_ms: int) -> bool:
        calls = self.calls.setdefault(key, deque())
        while calls and calls[0] <= now_ms - self.window_ms:
            calls.popleft()
        if len(calls) >= self.limit:
            return False
        calls.append(now_ms)
        return True


class Venue:
    """The face the core calls, and the state OKX's handlers share."""

    name = "okx"
    rest_prefixes = ("/api/v5/",)
    ws_path = urlsplit(protocol.WS_PRIVATE_URL).path

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.store_names = {okx_symbol(name): name for name in sim.symbols}
        window_ms = int(protocol.RATE_WINDOW_S * 1000)
        # orders-pending counts per User ID; the order detail per User ID + Instrument ID.
        self.pending_reads = Window(protocol.ORDERS_PENDING_RATE, window_ms)
        self.detail_reads = Window(protocol.ORDER_RATE, window_ms)
        self.revoked: set[str] = set()  # names of the accounts whose key was revoked
        self.req_ids: dict[str, str] = {}  # order id -> the reqId of the amend under way
        self.sessions: set[Session] = set()

    # -- the core's questions ------------------------------------------------------------

    def refusal(self, path: str, status: int) -> web.Response:
        if status == 429:
            return answer([], protocol.RATE_LIMITED, protocol.MESSAGES[protocol.RATE_LIMITED],
                          protocol.HTTP_TOO_MANY)
        return answer([], protocol.SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE_MSG, 503)

    def load_frame(self, push: LoadPush) -> str | bytes:
        return load.frame(push)

    def symbol(self, name: str) -> str:
        return okx_symbol(name)

    # -- accounts ------------------------------------------------------------------------

    def account_by_key(self, api_key: str) -> AccountState | None:
        """The account of an API key, unless the key was revoked."""
        account = self.sim.by_key.get(api_key)
        return None if account is None or account.name in self.revoked else account

    @staticmethod
    def uid(account: AccountState) -> str:
        """The account's user id, as pushes name it: 15 digits, stable per account name."""
        digest = hashlib.sha256(account.name.encode()).digest()
        return str(10 ** 14 + int.from_bytes(digest[:8], "big") % (9 * 10 ** 14))


VENUE_KEY: web.AppKey[Venue] = web.AppKey("okx", Venue)
