"""The simulator process: shared state, the aiohttp application and its lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tracker import protocol
from tracker.simulator.burst import Load
from tracker.simulator.faults import Faults
from tracker.simulator.flow import DEFAULT_MIX, OrderFlow
from tracker.simulator.ratelimit import FixedWindow
from tracker.simulator.store import (
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
    amounts: str = "minimal"  # or "padded": see tracker.simulator.wire
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
        self.ws_sessions: set[Any] = set()  # tracker.simulator.ws.Session
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
EXCHANGE_PREFIXES = ("/v2/", "/spot/", "/system/", "/account/", "/contract/")


def v2_error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def v4_response(sim: Simulator, data: Any, *, code: int = protocol.V4_SUCCESS,
                message: str = "success",
                status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = {"code": code, "message": message, "trace": sim.trace(), "data": data}
    return web.json_response(body, status=status, headers=headers)


def v4_error(sim: Simulator, status: int, code: int, message: str,
             headers: dict[str, str] | None = None) -> web.Response:
    return v4_response(sim, {}, code=code, message=message, status=status, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def rest_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Slow, failing, throttled, trickling and endless answers on the exchange's REST
    paths, never on /control."""
    sim = request.app[SIM_KEY]
    path = request.path
    if not path.startswith(EXCHANGE_PREFIXES):
        return await handler(request)
    sim.stats["rest_requests"] += 1
    faults = sim.faults
    if faults.rest_slow_ms:
        sim.injected["rest_slow"] += 1
        await asyncio.sleep(faults.rest_slow_ms / 1000)
    if faults.rest_endless:
        sim.injected["rest_endless"] += 1
        return await endless(sim, request)
    v2 = path.startswith("/v2/")
    if sim.chance(faults.rest_5xx, "rest_5xx"):
        response: web.StreamResponse = (
            v2_error(500, "Internal server error") if v2
            else v4_error(sim, 500, 59002, "Internal error, please try again later"))
    elif sim.chance(faults.rest_429, "rest_429"):
        response = (v2_error(429, "Too many requests") if v2
                    else v4_error(sim, 429, protocol.V4_RATE_LIMITED, "Request too many requests"))
    else:
        response = await handler(request)
    if faults.rest_trickle_ms and isinstance(response, web.Response) \
            and isinstance(response.body, bytes):
        sim.injected["rest_trickle"] += 1
        return await trickle(sim, request, response, response.body)
    return response


async def trickle(sim: Simulator, request: web.Request, response: web.Response,
                  body: bytes) -> web.StreamResponse:
    """The `rest_trickle_ms` fault: a correct answer with its true Content-Length, one byte
    per N ms, so every single read succeeds and only a deadline on the whole call ends it.
    Switching the fault off sends the rest at once."""
    slow = web.StreamResponse(status=response.status, reason=response.reason,
                              headers=response.headers)
    slow.content_length = len(body)
    await slow.prepare(request)
    try:
        for i in range(len(body)):
            if not sim.faults.rest_trickle_ms:
                await slow.write(body[i:])
                break
            await slow.write(body[i:i + 1])
            await asyncio.sleep(sim.faults.rest_trickle_ms / 1000)
        await slow.write_eof()
    except ConnectionError:  # the client gave up: what a deadline is for
        pass
    return slow


ENDLESS_CHUNK = b"0," * 32768


async def endless(sim: Simulator, request: web.Request) -> web.StreamResponse:
    """The `rest_endless` fault: 200, a chunked body that opens a JSON list and never ends
    while the fault is on, until the client goes away. Each write waits for the socket to
    drain, so the simulator's memory stays flat however long the client keeps reading."""
    answer = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    answer.enable_chunked_encoding()
    await answer.prepare(request)
    try:
        await answer.write(b"[")
        while sim.faults.rest_endless:
            await answer.write(ENDLESS_CHUNK)
            await asyncio.sleep(0)  # writes that never block would starve everything else
        await answer.write_eof()
    except ConnectionError:
        pass
    return answer


def build_app(sim: Simulator) -> web.Application:
    from tracker.simulator import control, rest_public, rest_v2, rest_v4, ws

    app = web.Application(middlewares=[rest_faults], client_max_size=1024 * 1024)
    app[SIM_KEY] = sim
    for module in (rest_v2, rest_v4, rest_public, ws, control):
        app.add_routes(module.routes())

    async def background(app: web.Application) -> Any:
        task = asyncio.create_task(sim.run_flow())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(background)
    app.on_shutdown.append(ws.close_all)
    return app


@dataclass
class Running:
    """A started simulator: where it listens, and how to stop it."""

    sim: Simulator
    runner: web.AppRunner
    host: str
    port: int

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/user?protocol=1.1"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start(settings: Settings) -> Running:
    sim = Simulator(settings)
    runner = web.AppRunner(build_app(sim), access_log=None, handle_signals=False,
                           shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Running(sim, runner, host, port)
