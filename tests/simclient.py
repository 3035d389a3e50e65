"""Small protocol clients for tests: just enough to speak to the simulator by the book.

They deliberately use the signing recipes in `tracker.venues.bitmart.signing`, which are themselves
pinned to the published test vectors in test_signing.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import websockets

from simulator.app import Running
from simulator.state import Account
from tracker.venues.bitmart import protocol, signing

MAX_FRAME = 1 << 20  # the daemon's default cap: a test frame past it is a simulator bug


def now_ms() -> int:
    return int(time.time() * 1000)


class V2:
    def __init__(self, running: Running, account: Account) -> None:
        self.http = httpx.AsyncClient(base_url=running.rest_url)
        self.account = account
        self.token: str | None = None

    async def aclose(self) -> None:
        await self.http.aclose()

    async def authenticate(self, secret: str | None = None) -> httpx.Response:
        a = self.account
        form = {
            "grant_type": "client_credentials",
            "client_id": a.api_key,
            "client_secret": signing.v2_client_secret(a.api_key, secret or a.secret, a.memo),
        }
        response = await self.http.post("/v2/authentication", data=form)
        if response.status_code == 200:
            self.token = response.json()["access_token"]
        return response

    def headers(self, timestamp: int | None = None) -> dict[str, str]:
        return {
            protocol.AUTHORIZATION_HEADER: f"Bearer {self.token}",
            protocol.TIMESTAMP_HEADER: str(now_ms() if timestamp is None else timestamp),
        }

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=self.headers())

    async def orders(self, symbol: str, status: int = 5, offset: int = 0,
                     limit: int = 100) -> httpx.Response:
        return await self.get("/v2/orders", symbol=symbol, status=status, offset=offset,
                              limit=limit)

    async def place(self, symbol: str, side: str, price: str, amount: str) -> httpx.Response:
        params = {"symbol": symbol, "side": side, "price": price, "amount": amount}
        headers = self.headers() | {
            protocol.SIGNATURE_HEADER: signing.v2_signature(self.account.secret, params)}
        return await self.http.post("/v2/orders", json=params, headers=headers)

    async def cancel(self, entrust_id: str | int) -> httpx.Response:
        headers = self.headers() | {protocol.SIGNATURE_HEADER: signing.v2_signature(
            self.account.secret, {"entrust_id": entrust_id})}
        return await self.http.delete(f"/v2/orders/{entrust_id}", headers=headers)


class V4:
    def __init__(self, running: Running, account: Account) -> None:
        self.http = httpx.AsyncClient(base_url=running.rest_url)
        self.account = account

    async def aclose(self) -> None:
        await self.http.aclose()

    async def post(self, path: str, body: dict[str, Any] | None = None, *,
                   timestamp: int | None = None, secret: str | None = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        raw = json.dumps(body or {})
        stamp = str(now_ms() if timestamp is None else timestamp)
        sign = signing.v4_sign(secret or self.account.secret, self.account.memo, stamp, raw)
        base = {protocol.KEY_HEADER: self.account.api_key, protocol.TIMESTAMP_HEADER: stamp,
                protocol.SIGN_HEADER: sign, "Content-Type": "application/json"}
        return await self.http.post(path, content=raw, headers=base | (headers or {}))


def inflate(frame: str | bytes) -> str:
    if isinstance(frame, bytes):
        return protocol.inflate(frame, MAX_FRAME).decode()
    return frame


class WS:
    """A private-channel connection that decodes every frame it reads."""

    def __init__(self, conn: websockets.ClientConnection, account: Account) -> None:
        self.conn = conn
        self.account = account
        self.raw: list[str | bytes] = []

    @classmethod
    async def connect(cls, running: Running, account: Account) -> WS:
        return cls(await websockets.connect(running.ws_url, ping_interval=None), account)

    async def send(self, message: Any) -> None:
        await self.conn.send(message if isinstance(message, str) else json.dumps(message))

    async def recv(self, within: float = 2.0) -> Any:
        import asyncio

        frame = await asyncio.wait_for(self.conn.recv(), within)
        self.raw.append(frame)
        text = inflate(frame)
        return text if text == "pong" else json.loads(text)

    async def login(self, timestamp: int | None = None, secret: str | None = None) -> Any:
        stamp = str(now_ms() if timestamp is None else timestamp)
        sign = signing.ws_login_sign(secret or self.account.secret, self.account.memo, stamp)
        await self.send(protocol.login_request(self.account.api_key, stamp, sign))
        return await self.recv()

    async def subscribe(self, *topics: str) -> list[Any]:
        await self.send(protocol.subscribe_request(list(topics)))
        return [await self.recv() for _ in topics]

    async def pushes(self, count: int, within: float = 2.0) -> list[dict[str, Any]]:
        """The next `count` order rows, flattened from their push messages."""
        rows: list[dict[str, Any]] = []
        while len(rows) < count:
            message = await self.recv(within)
            assert "table" in message, message
            rows.extend(message["data"])
        return rows

    async def close(self) -> None:
        await self.conn.close()
