"""OKX's half of the private stream: log in, subscribe the `orders` channel of spot, decode
its frames (`tracker.venues.okx.frames`). The core's `tracker.exchange.stream.Stream` does
the connection, sends the text `ping` every `ping_interval` (OKX cuts a connection quiet
for 30 s, and keeps no protocol ping of its own), opens the next connection on a 64008
notice, and reconnects.

OKX sends no snapshot on subscribe ("Data will not be pushed when first subscribed"): the
core's splice reads the open orders after the ack ([OKX] #order-book-trading-trade-ws-order-
channel, as docs/okx.md cites it).
"""

from __future__ import annotations

import json
import time
from typing import Any

from tracker.exchange.errors import StreamError
from tracker.frames import Frame
from tracker.venue import Reply, Send
from tracker.venues.okx import protocol as p
from tracker.venues.okx.frames import cause_of, decode
from tracker.venues.okx.signing import ws_login_sign


class OkxChannel:
    ping = p.PING  # the text OKX answers with `pong` ([OKX] #overview-websocket-connect)
    max_age_s = None  # OKX sets no age on a connection; it announces an upgrade (64008)

    def __init__(self, url: str, api_key: str, secret: str, passphrase: str,
                 symbols: list[str] | None, *, max_frame: int = 1 << 20) -> None:
        self.url = url
        self.api_key = api_key
        self.secret = secret
        self.passphrase = passphrase
        # One subscription of every spot instrument, whatever is configured; the pushes of
        # instruments not configured are dropped on arrival (counted as ignored). None:
        # every instrument is wanted, and nothing is filtered. Not one arg per instrument:
        # OKX refuses a subscribe that names an instrument it does not list (60018), so a
        # delisted instrument would keep the whole stream down, and the configuration
        # error it is (exit 78) is the markets reading's to say.
        self.wanted = None if symbols is None else frozenset(symbols)
        self.max_frame = max_frame  # the socket's own limit (the Stream's max_size) holds it

    def decode(self, frame: str | bytes) -> Frame:
        return decode(frame, self.wanted)

    async def open(self, send: Send, reply: Reply, skew_ms: int) -> dict[str, Any]:
        # The login's timestamp is in seconds, on OKX's clock, and good for 30 s.
        stamp = str(int(time.time() + skew_ms / 1000))
        await send(json.dumps(p.login_request(self.api_key, self.passphrase, stamp,
                                              ws_login_sign(self.secret, stamp))))
        await self._until(reply, p.LOGIN, 1)
        await send(json.dumps(p.subscribe_request()))
        await self._until(reply, p.SUBSCRIBE, 1)
        return {"channel": p.ORDERS_CHANNEL, "instType": p.SPOT,
                "instruments": len(self.wanted) if self.wanted is not None else "all"}

    async def _until(self, reply: Reply, event: str, count: int) -> None:
        """Until `count` acks of `event`; `channel-conn-count` beside them is passed over. A
        refusal is a StreamError with what it means for the book (a login refused for the
        key or the clock comes decoded as the end of the connection, and is raised by the
        stream itself)."""
        acked = 0
        while acked < count:
            answer = await reply()
            kind = answer.get("event") if isinstance(answer, dict) else None
            if kind == event and answer.get("code") in (None, p.SUCCESS):
                acked += 1
            elif kind != p.CONN_COUNT:
                code = answer.get("code") if isinstance(answer, dict) else None
                message = str(answer.get("msg", "") if isinstance(answer, dict) else answer)
                raise StreamError(f"{event} refused: code {code} {message[:200]}",
                                  cause=cause_of(None, code))
