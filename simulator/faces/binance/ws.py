"""Binance's WebSocket API (`/ws-api/v3`) as far as a user data stream needs it
([BN] web-socket-api.md, user-data-stream.md; docs/binance.md): JSON requests and
responses, `session.logon` (Ed25519 keys), `userDataStream.subscribe`, `.subscribe.signature`
(any key type), `.unsubscribe`, `session.subscriptions`, the events of each subscription,
the server's pings and pong deadline, the connection's maximum age, `serverShutdown`, a
revoked key, and the push faults.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from simulator.faces.binance.auth import (
    Refused,
    check_signature,
    check_time,
    key_type,
    mandatory,
    unknown_key,
)
from simulator.faces.binance.venue import VENUE_KEY, Venue, error
from simulator.faces.binance.wire import client_id, execution_report
from simulator.pushes import Pushes, write
from simulator.state import AccountState, PushSink
from simulator.store import AMENDED, ENDED, OrderChange
from tracker.venues.binance import protocol, signing

MAX_MESSAGE = 64 * 1024


def routes() -> list[web.RouteDef]:
    return [web.get(Venue.ws_path, handle)]


class Session:
    """One client connection: its logon, its subscriptions (each of one account), its
    outgoing queue, and its ping and age deadlines.

    Longer than 200 lines because every rule of a WebSocket API connection (requests,
    subscriptions, events and their faults, pings, age, shutdown, revocation) turns on
    the same connection state."""

    def __init__(self, venue: Venue, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.venue = venue
        self.sim = venue.sim
        self.ws = ws
        self.request = request
        self.peer = request.remote or "?"
        self.face = venue.name
        self.logged_in = False
        self.account: AccountState | None = None  # logged on with, or first subscribed
        self.logon: AccountState | None = None
        self.topics: dict[str, str] = {}  # subscription id -> its account's name
        self.subscriptions: dict[int, tuple[AccountState, PushSink]] = {}
        self.next_id = 0
        self.rate_limits = request.query.get("returnRateLimits", "true") != "false"
        self.loop = asyncio.get_running_loop()
        self.connected_ms = self.sim.now_ms()
        self.out: asyncio.Queue[tuple[str, str | bytes] | None] = asyncio.Queue()
        self.pushes = Pushes(self.sim, self.loop, self.send_push)
        self.writer: asyncio.Task[None] | None = None
        self.ping_payload: bytes | None = None
        self.heard_pong = self.loop.time()
        self.closing: asyncio.Task[None] | None = None  # the close after serverShutdown
        self.shutting = False  # that close has begun

    # -- outgoing ------------------------------------------------------------------------

    def send_json(self, frame: dict[str, Any]) -> None:
        self.out.put_nowait(("reply", json.dumps(frame, separators=(",", ":"),
                                                 ensure_ascii=False)))

    def send_raw(self, frame: str | bytes) -> None:
        self.out.put_nowait(("raw", frame))

    def send_push(self, frame: str | bytes) -> None:
        self.out.put_nowait(("push", frame))

    def _limits(self) -> dict[str, Any]:
        if not self.rate_limits:
            return {}
        return {"rateLimits": [{
            "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
            "limit": self.sim.settings.binance_weight_limit,
            "count": self.venue.used(self.peer)}]}

    def reply(self, request_id: Any, result: Any) -> None:
        self.send_json({"id": request_id, "status": 200, "result": result} | self._limits())

    def fail(self, request_id: Any, refused: Refused, data: Any = None) -> None:
        problem: dict[str, Any] = {"code": refused.code, "msg": refused.message}
        if data is not None:
            problem["data"] = data
        self.send_json({"id": request_id, "status": refused.status, "error": problem}
                       | self._limits())

    async def write_loop(self) -> None:
        await write(self.sim, self.ws, self.out)

    async def drain(self) -> None:
        self.out.put_nowait(None)
        if self.writer is not None:
            await self.writer

    # -- events --------------------------------------------------------------------------

    def offer(self, subscription: int, change: OrderChange) -> None:
        """A change of the subscription's account: its executionReport, through the push
        faults; the `stream_end` fault ends the subscription instead."""
        sim, venue = self.sim, self.venue
        if sim.chance(sim.faults.stream_end, "stream_end"):
            self.end(subscription)
            return
        order = change.order
        client, original = client_id(order), ""
        if change.kind == ENDED and order.cancel_source != "system":
            # A cancel names its own request's id, and the order's as the original.
            client, original = venue.cancel_id(order.order_id), client_id(order)
        elif change.kind == AMENDED:
            original = venue.replaced_ids.get(order.order_id, "")
        quote = order.symbol.split("_", 1)[1]
        event = execution_report(change, sim.now_ms(), quote, client, original)
        self.pushes.deliver(json.dumps({"subscriptionId": subscription, "event": event},
                                       ensure_ascii=False))

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(self, account: AccountState) -> int:
        if any(a is account for a, _ in self.subscriptions.values()):
            raise Refused(400, protocol.SUBSCRIPTION_ACTIVE,
                          "User Data Stream subscription already active.")
        number = self.next_id
        self.next_id += 1

        def sink(change: OrderChange) -> None:
            self.offer(number, change)

        self.subscriptions[number] = (account, sink)
        self.topics[str(number)] = account.name
        account.push_sinks.add(sink)
        if self.account is None:
            self.account = account
        return number

    def end(self, number: int, notify: bool = True) -> None:
        """End one subscription; with `notify`, its last event is eventStreamTerminated."""
        account, sink = self.subscriptions.pop(number)
        self.topics.pop(str(number), None)
        account.push_sinks.discard(sink)
        if notify:
            self.send_push(json.dumps({"subscriptionId": number, "event": {
                "e": protocol.STREAM_TERMINATED, "E": self.sim.now_ms()}}))

    def end_all(self, account: AccountState | None = None, notify: bool = True) -> int:
        numbers = [n for n, (a, _) in self.subscriptions.items() if account in (None, a)]
        for number in numbers:
            self.end(number, notify)
        return len(numbers)

    def revoke(self, account: AccountState) -> None:
        """The account's key was revoked: its subscriptions and logon end, and the client
        is told with an unsolicited 401 (-2015)."""
        held = self.end_all(account, notify=False)
        if self.logon is account:
            self.logon, self.logged_in = None, False
            held += 1
        if held:
            self.send_json({"id": None, "status": 401, "error": {
                "code": protocol.REJECTED_MBX_KEY,
                "msg": "Invalid API-key, IP, or permissions for action."}})

    def announce_shutdown(self, delay_s: float) -> None:
        """`serverShutdown`, then the connection is closed `delay_s` later."""
        self.send_push(json.dumps({"event": {
            "e": protocol.SERVER_SHUTDOWN, "E": self.sim.now_ms()}}))
        if self.closing is None:
            self.closing = asyncio.create_task(self._close_later(delay_s))

    async def _close_later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self.shutting = True
        self.sim.stats["ws_closed_server_shutdown"] += 1
        await self.drain()
        await self.ws.close(code=1001, message=b"server shutdown")

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    # -- requests ------------------------------------------------------------------------

    def handle_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("method"), str):
            self.fail(message.get("id") if isinstance(message, dict) else None,
                      Refused(400, -1000, "Malformed request: expected a JSON object with "
                                          "id, method and params."))
            return
        request_id, method = message.get("id"), message["method"]
        params = message.get("params", {})
        verdict = self.venue.charge(self.peer, protocol.WS_REQUEST_WEIGHT)
        if verdict.status != 200:
            code, msg = verdict.refusal(self.sim.settings.binance_weight_limit)
            retry_at = self.sim.now_ms() + verdict.retry_after_s * 1000
            self.fail(request_id, Refused(verdict.status, code, msg), {"retryAfter": retry_at})
            return
        try:
            if not isinstance(params, dict):
                raise mandatory("params")
            self.reply(request_id, self.call(method, params))
        except Refused as refused:
            self.fail(request_id, refused)

    def call(self, method: str, params: dict[str, Any]) -> Any:
        if method == protocol.SESSION_LOGON:
            return self.session_logon(params)
        if method == protocol.SUBSCRIBE:
            if self.logon is None:
                raise Refused(401, protocol.UNAUTHORIZED, "You are not authorized to execute "
                                                          "this request: session.logon first.")
            return {"subscriptionId": self.subscribe(self.logon)}
        if method == protocol.SUBSCRIBE_SIGNATURE:
            return {"subscriptionId": self.subscribe(self.signed(params))}
        if method == protocol.UNSUBSCRIBE:
            return self.unsubscribe(params)
        if method == protocol.SUBSCRIPTIONS:
            return [{"subscriptionId": n} for n in self.subscriptions]
        if method == "time":
            return {"serverTime": self.sim.now_ms()}
        if method == "ping":
            return {}
        raise Refused(400, protocol.UNSUPPORTED_OPERATION, f"Unknown method {method!r}.")

    def signed(self, params: dict[str, Any]) -> AccountState:
        """The account of a signed request: key, sorted-parameter signature, timestamp."""
        account = self.venue.account_by_key(str(params.get("apiKey", "")))
        if account is None:
            raise unknown_key()
        check_signature(account, signing.ws_payload(params), params.get("signature"))
        check_time(self.sim.now_ms(), {k: str(v) for k, v in params.items()})
        return account

    def session_logon(self, params: dict[str, Any]) -> dict[str, Any]:
        account = self.venue.account_by_key(str(params.get("apiKey", "")))
        if account is not None and key_type(account) != "ed25519":
            raise Refused(400, protocol.UNAUTHORIZED,
                          "session.logon takes Ed25519 API keys only.")
        account = self.signed(params)
        self.logon, self.logged_in = account, True
        if self.account is None:
            self.account = account
        now = self.sim.now_ms()
        return {"apiKey": account.credentials.api_key, "authorizedSince": now,
                "connectedSince": self.connected_ms, "returnRateLimits": self.rate_limits,
                "serverTime": now, "userDataStream": bool(self.subscriptions)}

    def unsubscribe(self, params: dict[str, Any]) -> dict[str, Any]:
        number = params.get("subscriptionId")
        if number is None:
            self.end_all()
            return {}
        if isinstance(number, bool) or not isinstance(number, int) \
                or number not in self.subscriptions:
            raise Refused(400, protocol.SUBSCRIPTION_INACTIVE,
                          "User Data Stream subscription not active.")
        self.end(number)
        return {}


async def handle(request: web.Request) -> web.StreamResponse:
    venue = request.app[VENUE_KEY]
    sim = venue.sim
    verdict = venue.charge(request.remote or "?", protocol.WS_CONNECT_WEIGHT)
    if verdict.status != 200:
        code, message = verdict.refusal(sim.settings.binance_weight_limit)
        sim.stats["ws_refused"] += 1
        return error(verdict.status, code, message,
                     {protocol.RETRY_AFTER: str(verdict.retry_after_s)})
    # autoping off: the server's own pings and the client's pongs are this face's rules.
    ws = web.WebSocketResponse(autoping=False, heartbeat=None, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    session = Session(venue, ws, request)
    sim.stats["ws_connections"] += 1
    sim.ws_sessions.add(session)
    venue.sessions.add(session)
    session.writer = asyncio.create_task(session.write_loop())
    try:
        await _read_loop(session)
    finally:
        session.end_all(notify=False)
        sim.ws_sessions.discard(session)
        venue.sessions.discard(session)
        if session.closing is not None and not session.shutting:
            session.closing.cancel()  # the client left before the announced close
        await session.drain()
        if not ws.closed:
            await ws.close()
    return ws


async def _read_loop(session: Session) -> None:
    """Requests in; a ping every `binance_ping_s`; the connection cut when no pong came
    for `binance_pong_timeout_s`, or once it is `binance_max_age_s` old."""
    sim, ws, loop = session.sim, session.ws, session.loop
    settings = sim.settings
    opened = loop.time()
    next_ping = opened + settings.binance_ping_s
    pings = 0
    while True:
        pong_due = session.heard_pong + settings.binance_pong_timeout_s
        old_at = opened + settings.binance_max_age_s
        wait = min(next_ping, pong_due, old_at) - loop.time()
        try:
            msg = await ws.receive(timeout=max(wait, 0.001))
        except TimeoutError:
            now = loop.time()
            reason = "max age" if now >= old_at else "no pong" if now >= pong_due else None
            if reason is not None:
                sim.stats[f"ws_closed_{reason.replace(' ', '_')}"] += 1
                await session.drain()
                await ws.close(code=1000, message=f"closed: {reason}".encode())
                return
            pings += 1
            session.ping_payload = str(pings).encode()
            session.out.put_nowait(("ping", session.ping_payload))
            next_ping = now + settings.binance_ping_s
            continue
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
        if msg.type == WSMsgType.PING:
            session.out.put_nowait(("pong", bytes(msg.data)))  # aiohttp gives a bytearray
        elif msg.type == WSMsgType.PONG:
            # A pong counts when it answers the last ping; an unsolicited one does not.
            if session.ping_payload is not None and bytes(msg.data) == session.ping_payload:
                session.heard_pong = loop.time()
        elif msg.type == WSMsgType.TEXT:
            session.handle_text(msg.data)
        else:
            session.fail(None, Refused(400, -1000, "Binary frames are not requests."))
