"""OKX's private WebSocket (`/ws/v5/private`) as far as the `orders` channel needs it
([OKX] #overview-websocket-*, #order-book-trading-trade-ws-order-channel; docs/okx.md):
`login`, `subscribe` and `unsubscribe` with their acks and `channel-conn-count`, the
pushes (through the core's `pushes`), text `ping`/`pong`, the idle cut (4004), the 64008
notice before a service upgrade, `channel-conn-count-error` past the connections allowed,
and a revoked key (4007).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from aiohttp import WSMsgType, web

from simulator.faces.okx.auth import Refused, check_login
from simulator.faces.okx.venue import VENUE_KEY, Venue
from simulator.faces.okx.wire import okx_symbol, push_row
from simulator.pushes import Pushes, write
from simulator.state import AccountState, PushSink
from simulator.store import OrderChange
from tracker.venues.okx import protocol

MAX_MESSAGE = 64 * 1024  # "total args per subscribe ≤ 64 KB"
WRONG_CHANNEL = "60018"  # "Wrong URL or channel", which `protocol` does not name
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "EVENTS", "ANY")
SPOT_TYPES = (protocol.SPOT, "ANY")  # the subscriptions that get spot orders' pushes


def routes() -> list[web.RouteDef]:
    return [web.get(Venue.ws_path, handle)]


def _key(arg: dict[str, str]) -> str:
    return json.dumps(arg, sort_keys=True)


class Session:
    """One client connection: its login, its subscriptions (of its account), its outgoing
    queue, when the client was last heard, and the close a notice announced."""

    def __init__(self, venue: Venue, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.venue = venue
        self.sim = venue.sim
        self.ws = ws
        self.request = request
        self.peer = request.remote or "?"
        self.face = venue.name
        self.logged_in = False
        self.account: AccountState | None = None
        self.topics: dict[str, str] = {}  # subscription (its arg as JSON) -> account's name
        self.sinks: dict[str, PushSink] = {}
        self.conn_id = secrets.token_hex(4)
        self.loop = asyncio.get_running_loop()
        self.out: asyncio.Queue[tuple[str, str | bytes] | None] = asyncio.Queue()
        self.pushes = Pushes(self.sim, self.loop, self.send_push)
        self.writer: asyncio.Task[None] | None = None
        self.heard = self.loop.time()  # the client's last frame (protocol pings aside)
        self.closing: asyncio.Task[None] | None = None  # the close after a 64008 notice
        self.close_code: int | None = None  # a close the server decided on

    # -- outgoing ------------------------------------------------------------------------

    def send_json(self, frame: dict[str, Any]) -> None:
        self.out.put_nowait(("reply", json.dumps(frame, separators=(",", ":"),
                                                 ensure_ascii=False)))

    def send_raw(self, frame: str | bytes) -> None:
        self.out.put_nowait(("raw", frame))

    def send_push(self, frame: str | bytes) -> None:
        self.out.put_nowait(("push", frame))

    def fail(self, refused: Refused, request_id: Any = None) -> None:
        frame: dict[str, Any] = {"event": protocol.ERROR, "code": refused.code,
                                 "msg": refused.message, "connId": self.conn_id}
        self.send_json(({"id": request_id} if request_id is not None else {}) | frame)

    async def drain(self) -> None:
        self.out.put_nowait(None)
        if self.writer is not None:
            await self.writer

    async def close(self, code: int, reason: str, stat: str) -> None:
        """Close with that code once every frame queued before it has gone out."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.sim.stats[f"ws_closed_{stat}"] += 1
        await self.drain()
        await self.ws.close(code=code, message=reason.encode())

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    # -- pushes --------------------------------------------------------------------------

    def offer(self, arg: dict[str, str], change: OrderChange) -> None:
        """A change of the account's orders, if the subscription covers it: an `orders`
        push through the push faults, with its restamped copy for `push_repeat`."""
        order = change.order
        if arg["instType"] not in SPOT_TYPES or arg.get("instId", okx_symbol(
                order.symbol)) != okx_symbol(order.symbol):
            return
        assert self.account is not None
        head = arg | {"uid": self.venue.uid(self.account)}
        req_id = self.venue.req_ids.get(order.order_id, "")

        def frame(u_time: int | None = None) -> str:
            return json.dumps({"arg": head, "data": [push_row(change, req_id, u_time)]},
                              separators=(",", ":"), ensure_ascii=False)

        self.pushes.deliver(frame(), lambda: frame(order.update_time + 1))

    # -- requests ------------------------------------------------------------------------

    def handle_text(self, text: str) -> None:
        if text == protocol.PING:
            self.out.put_nowait(("reply", protocol.PONG))
            return
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or message.get("op") not in (
                protocol.LOGIN, protocol.SUBSCRIBE, protocol.UNSUBSCRIBE):
            self.fail(Refused(400, protocol.WS_INVALID_REQUEST, f"Invalid request: {text}"),
                      message.get("id") if isinstance(message, dict) else None)
            return
        request_id = message.get("id")
        try:
            if message["op"] == protocol.LOGIN:
                self.login(message.get("args"))
            else:
                self.subscription(message["op"], message.get("args"), request_id, text)
        except Refused as refused:
            self.fail(refused, request_id)

    def login(self, args: Any) -> None:
        account = check_login(self.venue, args)
        if self.account is not None and self.account is not account:
            self.end_all()
        self.account, self.logged_in = account, True
        self.send_json({"event": protocol.LOGIN, "code": protocol.SUCCESS, "msg": "",
                        "connId": self.conn_id})

    def subscription(self, op: str, args: Any, request_id: Any, text: str) -> None:
        """(Un)subscribe each arg: each is acked on its own, as OKX does."""
        if self.account is None:
            raise Refused(400, protocol.WS_PLEASE_LOG_IN,
                          protocol.WS_MESSAGES[protocol.WS_PLEASE_LOG_IN])
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            raise Refused(400, protocol.WS_INVALID_REQUEST, f"Invalid request: {text}")
        wanted = [self._arg(raw) for raw in args]
        for arg in wanted:
            head = {"id": request_id} if request_id is not None else {}
            if op == protocol.UNSUBSCRIBE:
                self.end(_key(arg))
                self.send_json(head | {"event": op, "arg": arg, "connId": self.conn_id})
                continue
            self.send_json(head | {"event": op, "arg": arg, "connId": self.conn_id})
            self.start(arg)

    def _arg(self, raw: dict[str, Any]) -> dict[str, str]:
        channel, inst_type, inst_id = raw.get("channel"), raw.get("instType"), raw.get("instId")
        if channel != protocol.ORDERS_CHANNEL or (
                inst_id is not None and inst_id not in self.venue.store_names):
            raise Refused(400, WRONG_CHANNEL, f"Wrong URL or channel:{channel},instId:{inst_id} "
                                              "doesn't exist. Please use the correct URL, "
                                              "channel and parameters referring to API "
                                              "document.")
        if inst_type not in INST_TYPES:
            raise Refused(400, protocol.WS_INVALID_REQUEST,
                          f"Invalid request: instType {inst_type!r}")
        arg = {"channel": channel, "instType": inst_type}
        if inst_id is not None:
            arg["instId"] = inst_id
        return arg

    def start(self, arg: dict[str, str]) -> None:
        """A subscription, then `channel-conn-count`; past the connections allowed per
        channel and account, `channel-conn-count-error` and the subscription ends."""
        assert self.account is not None
        key, account = _key(arg), self.account
        if key not in self.sinks:
            def sink(change: OrderChange) -> None:
                self.offer(arg, change)

            self.sinks[key] = sink
            self.topics[key] = account.name
            account.push_sinks.add(sink)
        connections = sum(1 for s in self.venue.sessions
                          if s.account is account and isinstance(s, Session) and s.topics)
        limit = self.sim.settings.okx_channel_conn_limit
        if connections > limit:
            self.end(key)
            self.sim.stats["okx_conn_count_errors"] += 1
            self.send_json({"event": protocol.CONN_COUNT_ERROR, "channel": arg["channel"],
                            "connCount": str(limit), "connId": self.conn_id})
            return
        self.send_json({"event": protocol.CONN_COUNT, "channel": arg["channel"],
                        "connCount": str(connections), "connId": self.conn_id})

    def end(self, key: str) -> None:
        sink = self.sinks.pop(key, None)
        self.topics.pop(key, None)
        if sink is not None and self.account is not None:
            self.account.push_sinks.discard(sink)

    def end_all(self) -> None:
        for key in list(self.sinks):
            self.end(key)

    # -- the control API's --------------------------------------------------------------

    def announce_upgrade(self, delay_s: float) -> None:
        """The 64008 notice, then the close (1001) `delay_s` later."""
        self.send_json({"event": protocol.NOTICE, "code": protocol.WS_UPGRADE_NOTICE,
                        "msg": protocol.WS_MESSAGES[protocol.WS_UPGRADE_NOTICE],
                        "connId": self.conn_id})
        if self.closing is None:
            self.closing = asyncio.create_task(self._close_later(delay_s))

    async def _close_later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self.close(1001, "service upgrade", "service_upgrade")

    def revoke(self, account: AccountState) -> None:
        """The account's key was deleted: its connections close with 4007."""
        if self.account is account:
            self.end_all()
            if self.closing is not None:
                self.closing.cancel()
            self.closing = asyncio.create_task(self.close(
                protocol.CLOSE_KEY_CHANGED, "API key has been updated or deleted. Please "
                                            "reconnect.", "key_changed"))


async def handle(request: web.Request) -> web.StreamResponse:
    venue = request.app[VENUE_KEY]
    sim = venue.sim
    # autoping off: a protocol ping is answered, but only frames count as the client heard.
    ws = web.WebSocketResponse(autoping=False, heartbeat=None, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    session = Session(venue, ws, request)
    sim.stats["ws_connections"] += 1
    sim.ws_sessions.add(session)
    venue.sessions.add(session)
    session.writer = asyncio.create_task(write(sim, ws, session.out))
    try:
        await _read_loop(session)
    finally:
        session.end_all()
        sim.ws_sessions.discard(session)
        venue.sessions.discard(session)
        if session.closing is not None and session.close_code is None:
            session.closing.cancel()  # the client left before the announced close
        if session.close_code is None:
            await session.drain()
        if not ws.closed:
            await ws.close()
    return ws


async def _read_loop(session: Session) -> None:
    """Frames in; the connection cut (4004) when the client sent none for
    `okx_idle_timeout_s` (a protocol ping does not count: OKX asks for the text `ping`)."""
    sim, ws, loop = session.sim, session.ws, session.loop
    while session.close_code is None:
        wait = session.heard + sim.settings.okx_idle_timeout_s - loop.time()
        try:
            msg = await ws.receive(timeout=max(wait, 0.001))
        except TimeoutError:
            if loop.time() >= session.heard + sim.settings.okx_idle_timeout_s:
                await session.close(protocol.CLOSE_NO_DATA, "No data received in 30s.",
                                    "idle")
                return
            continue
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
        if msg.type == WSMsgType.PING:
            session.out.put_nowait(("pong", bytes(msg.data)))
            continue
        if msg.type == WSMsgType.PONG:
            continue
        session.heard = loop.time()
        if msg.type == WSMsgType.TEXT:
            session.handle_text(msg.data)
        else:
            session.fail(Refused(400, protocol.WS_INVALID_REQUEST,
                                 "Invalid request: binary frames are not requests."))
