"""A small OKX client for the simulator's tests: signed REST calls (the four OK-ACCESS-*
headers over the path and query as sent) and the private WebSocket's login, with the
recipes of `tracker.venues.okx.signing`."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets

from simulator.app import Running
from simulator.state import Account, AccountSettings
from tracker.venues.okx import protocol, signing

# Two accounts of the face, as the simulator's and the venue's tests serve them.
MAIN = Account("okx-main-key", "okx-main-secret", "", passphrase="Main-pass1")
OTHER = Account("okx-other-key", "okx-other-secret", "", passphrase="Other-pass2")
ACCOUNTS = (AccountSettings("main", MAIN), AccountSettings("other", OTHER))


def now_ms() -> int:
    return int(time.time() * 1000)


class Rest:
    """Signed calls: GET parameters in the query string, POST ones as a JSON body."""

    def __init__(self, running: Running, account: Account) -> None:
        self.http = httpx.AsyncClient(base_url=running.rest_url)
        self.account = account

    async def aclose(self) -> None:
        await self.http.aclose()

    def headers(self, method: str, path: str, body: str = "", *, skew_ms: int = 0,
                passphrase: str | None = None, sign: str | None = None) -> dict[str, str]:
        stamp = signing.iso_timestamp(now_ms() + skew_ms)
        secret = self.account.secret
        return {protocol.ACCESS_KEY: self.account.api_key,
                protocol.ACCESS_SIGN: signing.rest_sign(secret, stamp, method, path, body)
                if sign is None else sign,
                protocol.ACCESS_TIMESTAMP: stamp,
                protocol.ACCESS_PASSPHRASE: self.account.passphrase if passphrase is None
                else passphrase,
                "Content-Type": "application/json"}

    async def get(self, path: str, *, extra: dict[str, str] | None = None,
                  **params: Any) -> httpx.Response:
        target = f"{path}?{urlencode(params)}" if params else path
        headers = self.headers("GET", target) | (extra or {})
        return await self.http.get(target, headers=headers)

    async def post(self, path: str, **body: Any) -> httpx.Response:
        text = json.dumps(body)
        return await self.http.post(path, content=text, headers=self.headers("POST", path, text))


def ok(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "0" and body["msg"] == "", body
    data: list[dict[str, Any]] = body["data"]
    return data


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["data"] == [] and body["msg"], body
    return body


def login_args(account: Account, stamp: int | None = None,
               secret: str | None = None) -> dict[str, Any]:
    timestamp = str(int(time.time()) if stamp is None else stamp)
    sign = signing.ws_login_sign(account.secret if secret is None else secret, timestamp)
    return protocol.login_request(account.api_key, account.passphrase, timestamp, sign)


class Ws:
    """A private connection: every frame it receives, JSON or text, in arrival order."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def connect(cls, running: Running) -> Ws:
        return cls(await websockets.connect(running.ws_urls["okx"], ping_interval=None))

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def frame(self, within: float = 2.0) -> Any:
        text = await asyncio.wait_for(self.ws.recv(), within)
        return text if text == protocol.PONG else json.loads(text)

    async def login(self, account: Account) -> dict[str, Any]:
        await self.send(login_args(account))
        answer: dict[str, Any] = await self.frame()
        return answer

    async def subscribe(self, **arg: str) -> list[dict[str, Any]]:
        """Subscribe one arg; its ack and the connection count that follows it."""
        await self.send({"op": protocol.SUBSCRIBE,
                         "args": [{"channel": protocol.ORDERS_CHANNEL,
                                   "instType": protocol.SPOT} | arg]})
        return [await self.frame(), await self.frame()]

    async def push(self, within: float = 2.0) -> dict[str, Any]:
        frame: dict[str, Any] = await self.frame(within)
        assert "data" in frame, frame
        return frame
