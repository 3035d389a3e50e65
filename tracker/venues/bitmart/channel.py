"""BitMart's half of the private stream: log in, subscribe the order topics within the
exchange's limits, decode frames. The core's `tracker.exchange.stream.Stream` does the
connection, the keep-alive, the silence watch and the reconnects."""

from __future__ import annotations

import json
import time
from typing import Any

from tracker.exchange.errors import StreamError
from tracker.frames import Frame
from tracker.reasons import NotLive
from tracker.venue import Reply, Send
from tracker.venues.bitmart import signing
from tracker.venues.bitmart.errors import credential_hint
from tracker.venues.bitmart.frames import decode
from tracker.venues.bitmart.keys import Keys
from tracker.venues.bitmart.protocol import (
    ALL_SYMBOLS,
    PING,
    TOPICS_PER_CONNECTION,
    TOPICS_PER_SUBSCRIBE,
    WS_CLOCK_CODES,
    WS_CREDENTIAL_CODES,
    WS_LIMIT_CODES,
    login_request,
    order_topic,
    subscribe_request,
)


class BitMartChannel:
    ping = PING
    max_age_s = None

    def __init__(self, url: str, credentials: Keys, symbols: list[str] | None,
                 max_frame: int = 1 << 20) -> None:
        self.url = url
        self.credentials = credentials
        # None: every symbol is wanted, and nothing is filtered.
        self.wanted = None if symbols is None else frozenset(symbols)
        # Past the per-connection topic limit one `ALL_SYMBOLS` topic, filtered here,
        # replaces the per-symbol topics (never both: whether that doubles every push is
        # unknown).
        self.topics = [ALL_SYMBOLS] if symbols is None or len(
            symbols) > TOPICS_PER_CONNECTION else [order_topic(s) for s in symbols]
        self.max_frame = max_frame

    def decode(self, frame: str | bytes) -> Frame:
        return decode(frame, self.max_frame, self.wanted)

    async def open(self, send: Send, reply: Reply, skew_ms: int) -> dict[str, Any]:
        await self._login(send, reply, skew_ms)
        await self._subscribe(send, reply)
        return {"topics": len(self.topics),
                "mode": "all_symbols" if self.topics == [ALL_SYMBOLS] else "per_symbol",
                "symbols": len(self.wanted) if self.wanted is not None else "all"}

    async def _login(self, send: Send, reply: Reply, skew_ms: int) -> None:
        c = self.credentials
        stamp = str(int(time.time() * 1000) + skew_ms)
        sign = signing.ws_login_sign(c.secret, c.memo, stamp)
        await send(json.dumps(login_request(c.api_key, stamp, sign)))
        answer = await reply()
        if not isinstance(answer, dict) or answer.get("event") != "login":
            raise StreamError(f"unexpected login answer: {str(answer)[:120]}")
        if "errorCode" in answer:
            code = str(answer["errorCode"])
            message = f"login refused: {code} {str(answer.get('errorMessage', ''))[:120]}"
            if code in WS_CREDENTIAL_CODES:
                message += f": {credential_hint(code)}"
            raise StreamError(message, cause=(
                NotLive.CREDENTIALS if code in WS_CREDENTIAL_CODES
                else NotLive.CLOCK if code in WS_CLOCK_CODES
                else NotLive.RATE_LIMITED if code in WS_LIMIT_CODES else NotLive.EXCHANGE))

    async def _subscribe(self, send: Send, reply: Reply) -> None:
        for i in range(0, len(self.topics), TOPICS_PER_SUBSCRIBE):
            chunk = self.topics[i:i + TOPICS_PER_SUBSCRIBE]
            await send(json.dumps(subscribe_request(chunk)))
            pending = set(chunk)
            while pending:
                answer = await reply()
                if not isinstance(answer, dict):
                    raise StreamError(f"unexpected subscribe answer: {str(answer)[:120]}")
                if "errorCode" in answer:
                    code = str(answer.get("errorCode"))
                    raise StreamError(f"subscribe refused: {code} "
                                      f"{str(answer.get('errorMessage', ''))[:120]}",
                                      cause=NotLive.RATE_LIMITED if code in WS_LIMIT_CODES
                                      else NotLive.EXCHANGE)
                pending.discard(answer.get("topic"))
