"""The simulator's state: its settings, its order store and flow, its faults and limits,
and its open connections, held by one object that every face is handed.

It lives below the faces (v2, v4, the WebSocket, control) and imports none of them, so
the faces can share it and `app` can wire them together without an import circle.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from bitmart_sim.burst import Load
from bitmart_sim.faults import Faults
from bitmart_sim.flow import DEFAULT_MIX, OrderFlow
from bitmart_sim.ratelimit import FixedWindow
from bitmart_sim.store import (
    DEFAULT_SYMBOLS,
    OrderChange,
    OrderStore,
    SimOrder,
    SymbolSpec,
)


@dataclass(frozen=True)
class Account:
    api_key: str
    secret: str
    memo: str


# The credentials of the published v2 signing example (protocol §1.2): a client can check
# its own signing against the documented digest before it ever talks to the simulator.
DEMO_ACCOUNT = Account(
    api_key="6591f7c2491db0a23a1d8ad6911c825e",
    secret="8c08d9d5c3d15b105dbddaf96e427ac6",
    memo="mymemo",
)


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    seed: int = 0
    symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS
    open_orders_per_symbol: int = 0
    rate: float = 0.0  # order-flow events per second
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    compress: bool = True  # pushes as raw-DEFLATE binary frames; False: plain text frames
    amounts: str = "minimal"  # or "padded": see bitmart_sim.wire
    ws_idle_timeout_s: float = 20.0
    ws_lifeless_s: float = 300.0
    v2_rate_limit: int = 100  # v2 calls per second per client
    cancel_retention_s: float = 1200.0  # v4 query/order forgets unfilled cancels after this
    account: Account = DEMO_ACCOUNT
    faults: dict[str, Any] = field(default_factory=dict)


# Rate limits per API key (protocol §2.4, §2.5, §2.8): (calls, window seconds).
V4_LIMITS = {
    "open-orders": (12, 2),
    "order": (50, 2),
    "order-trades": (12, 2),
    "submit": (40, 2),
    "cancel": (40, 2),
}

PushSink = Callable[[OrderChange], None]


class Connection(Protocol):
    """A client's WebSocket connection, as the simulator outside the WebSocket face sees
    it: enough for control's connection faults and the benchmarks' load, so that neither
    needs the face itself."""

    ws: web.WebSocketResponse
    peer: str
    logged_in: bool
    topics: dict[str, str]  # topic -> the `table` its pushes carry

    def abort(self) -> None: ...

    def send_raw(self, frame: str | bytes) -> None: ...


class Simulator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.faults = Faults()
        self.faults.update(settings.faults)
        # Separate streams so that switching a fault on does not change the order flow.
        self.fault_rng = random.Random(f"faults:{settings.seed}")
        self.store = OrderStore(settings.symbols, clock=self.now_ms)
        self.flow = OrderFlow(self.store, random.Random(f"flow:{settings.seed}"),
                              dict(settings.mix))
        self.flow_rate = settings.rate
        self.injected: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self.tokens: dict[str, int] = {}  # v2 bearer token -> expiry (server ms)
        self.token_requests: deque[int] = deque()
        self.v2_limit = FixedWindow(settings.v2_rate_limit, 1)
        self.v4_limits = {name: FixedWindow(n, w) for name, (n, w) in V4_LIMITS.items()}
        self.push_sinks: set[PushSink] = set()
        self.ws_sessions: set[Connection] = set()
        self.ws_connects: deque[float] = deque()
        self.load = Load()  # the benchmarks' burst or pace, if any
        self._traces = 0
        self.store.listeners.append(self._fan_out)
        self.flow.populate(settings.open_orders_per_symbol)

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.faults.clock_skew_ms

    def chance(self, probability: float, kind: str) -> bool:
        """Draw one probabilistic fault; count it when it fires."""
        if probability > 0 and self.fault_rng.random() < probability:
            self.injected[kind] += 1
            return True
        return False

    def trace(self) -> str:
        self._traces += 1
        return f"{uuid.uuid4().hex}.60.{self._traces}"

    def shift_between_pages(self, symbol: str | None) -> None:
        """The `page_shift` fault: close the oldest open orders and open as many new ones.

        Run after a list page was cut, so orders a client already read leave the set and the
        rest slide towards the front, which is how page-index pagination skips an order.
        """
        n = self.faults.page_shift
        if not n:
            return
        victims = self.store.open_orders(symbol)[:n]
        for order in victims:
            if self.fault_rng.random() < 0.5:
                self.store.cancel(order.order_id)
            else:
                self.store.fill(order.order_id)
        for _ in range(n):
            self.flow.random_limit(symbol)
        self.injected["page_shift"] += 1

    def lagging(self, order: SimOrder) -> bool:
        """The `rest_lag_ms` fault: a changed order is invisible to detail queries for a while."""
        if self.faults.rest_lag_ms and self.now_ms() - order.update_time < self.faults.rest_lag_ms:
            self.injected["rest_lag"] += 1
            return True
        return False

    def subscribed(self) -> list[Connection]:
        """The connections that hold at least one topic: those a push would reach."""
        return [c for c in self.ws_sessions if c.topics]

    async def drop_connections(self, mode: str, code: int, reason: str) -> int:
        """The connection faults: `abort` (no close frame) or `close` with a given code."""
        connections = list(self.ws_sessions)
        for connection in connections:
            if mode == "abort":
                connection.abort()
            else:
                await connection.ws.close(code=code, message=reason.encode())
        self.injected[f"ws_{mode}"] += len(connections)
        return len(connections)

    def send_raw(self, frame: str | bytes) -> int:
        """Bad input on demand: the frame goes to every subscribed connection exactly as
        given (text as a text frame, bytes as a binary frame, neither compressed nor
        checked)."""
        connections = self.subscribed()
        for connection in connections:
            connection.send_raw(frame)
        self.injected["ws_raw_frame"] += len(connections)
        return len(connections)

    def _fan_out(self, change: OrderChange) -> None:
        for sink in list(self.push_sinks):
            sink(change)

    async def run_flow(self) -> None:
        """Drive the generator at `flow_rate` events per second, in 10 ms ticks."""
        loop = asyncio.get_running_loop()
        last, debt = loop.time(), 0.0
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            debt += (now - last) * self.flow_rate
            last = now
            steps = int(debt)
            debt -= steps
            for _ in range(steps):
                self.flow.step()


SIM_KEY: web.AppKey[Simulator] = web.AppKey("simulator", Simulator)
