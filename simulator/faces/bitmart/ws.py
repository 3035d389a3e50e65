"""The private WebSocket face (protocol §3): login, per-topic acks, no snapshot, pushes as
raw-DEFLATE binary frames, text ping/pong, idle and rate rules, and the push faults.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque

from aiohttp import WSMsgType, web

from simulator.faces.bitmart.venue import VENUE_KEY, Venue
from simulator.faces.bitmart.wire import push_row
from simulator.pushes import Pushes, write
from simulator.state import AccountState, Simulator
from simulator.store import OrderChange
from tracker.venues.bitmart import protocol, signing

MAX_CONNECTIONS_PER_IP = 10
MAX_CONNECTS_PER_MINUTE = 30
MAX_ARGS_BYTES = 4096
MAX_MESSAGES_PER_10S = 100
LOGIN_WINDOW_MS = 60_000


def routes() -> list[web.RouteDef]:
    return [web.get("/user", handle)]


def error_event(op: str, code: str, message: str) -> str:
    return json.dumps({"event": op, "errorCode": code, "errorMessage": message})


# Why a connection must end: its close code and reason.
Close = tuple[int, str]
LOGIN_FAILED: Close = (1000, "login failed")
OVER_LIMIT: Close = (1008, "over a subscription limit")


class Session:
    """One client connection: its login, its topics and its outgoing frame queue.

    Longer than 200 lines because it enforces, in one place, every rule BitMart applies to
    a private connection (login timing, topic and message limits, ping and idle timeouts,
    close codes), which all turn on the same connection state."""

    def __init__(self, sim: Simulator, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.sim = sim
        self.ws = ws
        self.request = request
        self.peer = request.remote or "?"
        self.face = Venue.name
        self.logged_in = False
        self.account: AccountState | None = None  # set by a successful login
        self.topics: dict[str, str] = {}  # topic -> the `table` its pushes carry
        # (kind, frame): kind is "event" (text reply), "push" or "pong" (a pong frame).
        self.out: asyncio.Queue[tuple[str, str | bytes] | None] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.pushes = Pushes(sim, self.loop, self.send_push)
        self.recent: deque[float] = deque()
        self.writer: asyncio.Task[None] | None = None

    async def drain(self) -> None:
        """Send what is queued, then stop writing: used before closing the connection."""
        self.out.put_nowait(None)
        if self.writer is not None:
            await self.writer

    # -- outgoing --------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        self.out.put_nowait(("event", text))

    def send_pong_frame(self, payload: bytes | bytearray) -> None:
        self.out.put_nowait(("pong", bytes(payload)))

    def send_raw(self, frame: str | bytes) -> None:
        self.out.put_nowait(("raw", frame))

    def send_push(self, frame: str | bytes) -> None:
        self.out.put_nowait(("push", frame))

    def offer(self, change: OrderChange) -> None:
        """A change to one of this connection's account's orders (the only ones it is
        offered): pushed if a topic covers its symbol."""
        assert self.account is not None
        symbol = change.order.symbol
        for topic, table in self.topics.items():
            if topic == protocol.ALL_SYMBOLS or topic.endswith(":" + symbol):
                row = push_row(change, self.account.store.symbols[symbol],
                               self.sim.settings.amounts)
                text = json.dumps({"table": table, "data": [row]})
                frame: str | bytes = (protocol.deflate(text.encode())
                                      if self.sim.settings.compress else text)
                self.pushes.deliver(frame)

    async def write_loop(self) -> None:
        await write(self.sim, self.ws, self.out)

    # -- incoming --------------------------------------------------------------------

    def over_message_limit(self) -> bool:
        now = self.loop.time()
        self.recent.append(now)
        while self.recent and self.recent[0] <= now - 10:
            self.recent.popleft()
        return len(self.recent) > MAX_MESSAGES_PER_10S

    def handle_text(self, text: str) -> Close | None:
        """Answer one client message; how the connection ends, if this ends it."""
        if text == protocol.PING:
            self.send_text(protocol.PONG)
            return None
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            self.send_text(error_event("error", "90001", "Invalid message format"))
            return None
        if not isinstance(message, dict):
            self.send_text(error_event("error", "90001", "Invalid message format"))
            return None
        op, args = message.get("op"), message.get("args")
        if op not in (protocol.LOGIN, protocol.SUBSCRIBE, protocol.UNSUBSCRIBE):
            self.send_text(error_event(str(op), "90002", "Invalid op param"))
            return None
        if op == protocol.LOGIN and self.logged_in:
            # Refused, but the session that is already logged in stays up.
            self.send_text(error_event(op, "91005", "Already logged in"))
            return None
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            self.send_text(error_event(op, "90003", "Invalid args param"))
            return LOGIN_FAILED if op == protocol.LOGIN else None
        if op == protocol.LOGIN:
            return self.login(args)
        return self.subscription(op, args)

    def login(self, args: list[str]) -> Close | None:
        code = self._login_error(args)
        if code is not None:
            self.sim.stats["ws_login_failed"] += 1
            self.send_text(error_event(protocol.LOGIN, *code))
            return LOGIN_FAILED
        self.logged_in = True
        self.account = self.sim.by_key[args[0]]
        # From now on this connection is offered the changes of its account's orders only.
        self.account.push_sinks.add(self.offer)
        self.send_text(json.dumps({"event": protocol.LOGIN}))
        return None

    def _login_error(self, args: list[str]) -> tuple[str, str] | None:
        if len(args) != 3:
            return "90003", "Invalid args param: [apiKey, timestamp, sign]"
        key, stamp, sign = args
        if not key:
            return protocol.WS_KEY_EMPTY, "API KEY is empty"
        served = self.sim.by_key.get(key)
        if served is None:
            return protocol.WS_KEY_UNKNOWN, "API KEY not found"
        account = served.credentials
        if not stamp:
            return "91021", "Timestamp is empty"
        if not (stamp.isascii() and stamp.isdigit()):
            return "91023", "Timestamp invalid format"
        if abs(self.sim.now_ms() - int(stamp)) > LOGIN_WINDOW_MS:
            return protocol.WS_TIMESTAMP_RANGE, "Timestamp out of range (within a minute)"
        if not sign:
            return protocol.WS_SIGN_EMPTY, "Sign is empty"
        expected = signing.ws_login_sign(account.secret, account.memo, stamp)
        if not signing.constant_time_equal(sign, expected):
            return protocol.WS_SIGN_WRONG, "Sign is wrong"
        return None

    def subscription(self, op: str, args: list[str]) -> Close | None:
        """Subscribe or unsubscribe. Past a private-channel limit the error event goes
        out and the connection is closed: "exceeding -> disconnect", as documented."""
        if not self.logged_in:
            self.send_text(error_event(op, "91006", "Not logged in"))
            return None
        if len(args) > protocol.TOPICS_PER_SUBSCRIBE:
            self.send_text(error_event(op, protocol.WS_TOO_MANY_TOPICS_PER_SUBSCRIBE,
                                       "Too many topics in one request (max 20)"))
            return OVER_LIMIT
        if len(json.dumps(args).encode()) > MAX_ARGS_BYTES:
            self.send_text(error_event(op, "90003", "Invalid args param: over 4096 bytes"))
            return OVER_LIMIT
        for topic in args:
            if op == protocol.UNSUBSCRIBE:
                if self.topics.pop(topic, None) is None:
                    self.send_text(error_event(op, "90009", f"Invalid subscription {topic}"))
                else:
                    self.send_text(json.dumps({"event": op, "topic": topic}))
                continue
            table = self._table(topic)
            if table is None:
                continue
            if topic in self.topics:
                self.send_text(error_event(op, "90008", f"Duplicate subscription {topic}"))
            elif len(self.topics) >= protocol.TOPICS_PER_CONNECTION:
                self.send_text(error_event(op, protocol.WS_TOO_MANY_TOPICS,
                                           "Total topics over the limit (100)"))
                return OVER_LIMIT
            else:
                self.topics[topic] = table
                self.send_text(json.dumps({"event": op, "topic": topic}))
        return None

    def _table(self, topic: str) -> str | None:
        channel, _, symbol = topic.partition(":")
        if topic == protocol.ALL_SYMBOLS:
            return protocol.ALL_ORDERS_TABLE
        if channel != protocol.ORDER_TABLE or not symbol:
            self.send_text(error_event(protocol.SUBSCRIBE, "90004", "Invalid channel param"))
            return None
        assert self.account is not None  # subscribing needs a login
        if symbol not in self.account.store.symbols:
            self.send_text(error_event(protocol.SUBSCRIBE, "92001", "Invalid symbol param"))
            return None
        return protocol.ORDER_TABLE

    def abort(self) -> None:
        """Drop the connection with no close frame, as a network fault would."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()


def _admission_error(venue: Venue, peer: str) -> tuple[str, str] | None:
    """The limits on connecting, checked before any login. A connection's account is not
    known yet, so the limits scale with the number of accounts served: a fleet of clients
    on one machine is admitted as if each of its accounts connected from a host of its own,
    and a simulator of one account keeps the exchange's figures."""
    sim, connects = venue.sim, venue.connects
    accounts = len(sim.accounts)
    now = asyncio.get_running_loop().time()
    connects.append(now)
    while connects and connects[0] <= now - 60:
        connects.popleft()
    per_minute, per_ip = MAX_CONNECTS_PER_MINUTE * accounts, MAX_CONNECTIONS_PER_IP * accounts
    if len(connects) > per_minute:
        return (protocol.WS_RECONNECTS_TOO_OFTEN,
                f"Reconnecting too frequently (max {per_minute} per minute)")
    if sum(1 for s in sim.ws_sessions if s.peer == peer and s.face == venue.name) >= per_ip:
        return protocol.WS_TOO_MANY_CONNECTIONS, f"Too many connections from this IP (max {per_ip})"
    return None


async def handle(request: web.Request) -> web.WebSocketResponse:
    venue = request.app[VENUE_KEY]
    sim = venue.sim
    # autoping off: ping and pong frames are client messages like any other (they count
    # towards the message limit and keep the link alive), answered in `_read_loop`.
    ws = web.WebSocketResponse(autoping=False, heartbeat=None, max_msg_size=64 * 1024)
    await ws.prepare(request)
    session = Session(sim, ws, request)
    refused = _admission_error(venue, session.peer)
    if refused is not None:
        sim.stats["ws_refused"] += 1
        await ws.send_str(error_event("connect", *refused))
        await ws.close(code=1008, message=refused[1].encode())
        return ws
    sim.stats["ws_connections"] += 1
    sim.ws_sessions.add(session)
    session.writer = asyncio.create_task(session.write_loop())
    try:
        await _read_loop(sim, session)
    finally:
        if session.account is not None:
            session.account.push_sinks.discard(session.offer)
        sim.ws_sessions.discard(session)
        await session.drain()
        if not ws.closed:
            await ws.close()
    return ws


async def _read_loop(sim: Simulator, session: Session) -> None:
    settings, ws, loop = sim.settings, session.ws, session.loop
    opened = heard = loop.time()
    while True:
        idle_at = heard + settings.ws_idle_timeout_s
        lifeless_at = opened + settings.ws_lifeless_s if not session.topics else float("inf")
        timeout = min(idle_at, lifeless_at) - loop.time()
        try:
            msg = await ws.receive(timeout=max(timeout, 0.001))
        except TimeoutError:
            reason = "idle" if loop.time() >= idle_at else "no subscription"
            sim.stats[f"ws_closed_{reason.replace(' ', '_')}"] += 1
            await session.drain()
            await ws.close(code=1000, message=f"closed: {reason}".encode())
            return
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
        heard = loop.time()
        if session.over_message_limit():
            sim.stats["ws_closed_rate"] += 1
            await session.drain()  # replies owed to the messages within the limit go first
            await ws.close(code=1008, message=b"over 100 messages in 10 s")
            return
        if msg.type == WSMsgType.PING:
            session.send_pong_frame(msg.data)
            continue
        if msg.type == WSMsgType.PONG:
            continue
        if msg.type != WSMsgType.TEXT:
            session.send_text(error_event("error", "90001", "Invalid message format"))
            continue
        close = session.handle_text(msg.data)
        if close is not None:
            code, reason = close
            sim.stats[f"ws_closed_{reason.replace(' ', '_')}"] += 1
            await session.drain()  # the error event goes out before the close
            await ws.close(code=code, message=reason.encode())
            return

