"""Binance's half of the private stream: subscribe the user data stream on the WebSocket
API, decode its frames. The core's `tracker.exchange.stream.Stream` does the connection,
answers Binance's pings, rotates a connection before its 24 hours are up and reconnects.

Since 2026-02-20 there is no listenKey ([BN] CHANGELOG 2026-01-21): the stream is
subscribed on a WebSocket API connection, either with `userDataStream.subscribe.signature`
(any key type: HMAC, RSA or Ed25519) or, for an Ed25519 key, `session.logon` and then
`userDataStream.subscribe` ([BN] web-socket-api.md "User Data Stream requests").
Binance sends no snapshot on subscribe: the core's splice reads the open orders after.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tracker.exchange.errors import StreamError
from tracker.frames import Frame
from tracker.reasons import NotLive
from tracker.venue import Reply, Send
from tracker.venues.binance import protocol as p
from tracker.venues.binance.frames import cause_of, credential_hint, decode, error_of
from tracker.venues.binance.signing import Signer, ws_payload


class BinanceChannel:
    ping = None  # Binance pings the client (every 20 s), not the other way round

    def __init__(self, url: str, api_key: str, key: Signer, symbols: list[str] | None, *,
                 logon: bool = False, recv_window_ms: int = p.RECV_WINDOW_MS,
                 max_frame: int = 1 << 20, max_age_s: float = p.MAX_CONNECTION_AGE_S) -> None:
        self.url = url
        self.max_age_s = max_age_s  # Binance cuts a connection at 24 h
        self.api_key = api_key
        self.key = key
        # None: every symbol is wanted, and nothing is filtered. Binance's stream is the
        # account's: orders of other symbols are dropped here (counted as ignored).
        self.wanted = None if symbols is None else frozenset(symbols)
        self.logon = logon
        self.recv_window_ms = recv_window_ms
        self.max_frame = max_frame  # the socket's own limit (the Stream's max_size) holds it
        self._sent = 0

    def decode(self, frame: str | bytes) -> Frame:
        return decode(frame, self.wanted)

    async def open(self, send: Send, reply: Reply, skew_ms: int) -> dict[str, Any]:
        if self.logon:
            await self._request(send, reply, p.SESSION_LOGON, self._signed(skew_ms))
            method, result = p.SUBSCRIBE, await self._request(send, reply, p.SUBSCRIBE, None)
        else:
            method = p.SUBSCRIBE_SIGNATURE
            result = await self._request(send, reply, method, self._signed(skew_ms))
        subscription = result.get("subscriptionId") if isinstance(result, dict) else None
        return {"method": method, "subscription": subscription, "key_type": self.key.kind,
                "symbols": len(self.wanted) if self.wanted is not None else "all"}

    def _signed(self, skew_ms: int) -> dict[str, Any]:
        """The key's signature over every other parameter, sorted ([BN] web-socket-api.md
        "SIGNED request example")."""
        params: dict[str, Any] = {"apiKey": self.api_key, "recvWindow": self.recv_window_ms,
                                  "timestamp": int(time.time() * 1000) + skew_ms}
        params["signature"] = self.key.sign(ws_payload(params))
        return params

    async def _request(self, send: Send, reply: Reply, method: str,
                       params: dict[str, Any] | None) -> Any:
        """Send one request and wait for the response that carries its id; what else comes
        meanwhile (a late response) is passed over. A refusal is a StreamError with what it
        means for the book."""
        self._sent += 1
        request_id = f"t{self._sent}"
        await send(json.dumps(p.request(request_id, method, params)))
        while True:
            answer = await reply()
            if not isinstance(answer, dict) or "status" not in answer:
                raise StreamError(f"unexpected answer to {method}: {str(answer)[:120]}")
            if answer.get("id") not in (request_id, None):
                continue
            status = answer["status"]
            if status == 200 and answer.get("id") == request_id:
                return answer.get("result")
            code, message = error_of(answer)
            cause = cause_of(status, code)
            hint = f": {credential_hint(code)}" if cause is NotLive.CREDENTIALS else ""
            raise StreamError(f"{method} refused: status {status} code {code} "
                              f"{message}{hint}", cause=cause)
