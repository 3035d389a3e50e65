"""A small Binance client for the simulator's tests: signed REST calls (the payload
percent-encoded, as Binance requires since 2026-01-15) and WebSocket API requests, with
the recipes of `tracker.venues.binance.signing`; keys of all three types."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import quote

import httpx
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from simulator.app import Running
from simulator.state import DEMO_ACCOUNT, Account, AccountSettings
from tracker.venues.binance import protocol, signing


def now_ms() -> int:
    return int(time.time() * 1000)


def private_pem(kind: str) -> str:
    key = (ed25519.Ed25519PrivateKey.generate() if kind == "ed25519"
           else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class Keys:
    """An account of each key type: its settings for the simulator, and its signer."""

    def __init__(self) -> None:
        self.pems = {kind: private_pem(kind) for kind in ("rsa", "ed25519")}
        self.accounts = (
            AccountSettings("hmac", DEMO_ACCOUNT),
            *(AccountSettings(kind, Account(f"key-{kind}", "unused", "",
                                            signing.public_pem(pem)))
              for kind, pem in self.pems.items()))

    def signer(self, kind: str) -> signing.Signer:
        return signing.signer(DEMO_ACCOUNT.secret if kind == "hmac" else self.pems[kind])

    def api_key(self, kind: str) -> str:
        return next(a.credentials.api_key for a in self.accounts if a.name == kind)


class Rest:
    """Signed calls with every parameter in the query string."""

    def __init__(self, running: Running, api_key: str, signer: signing.Signer) -> None:
        self.http = httpx.AsyncClient(base_url=running.rest_url)
        self.api_key = api_key
        self.signer = signer

    async def aclose(self) -> None:
        await self.http.aclose()

    def query(self, params: dict[str, Any], signature: str | None = None) -> str:
        params = {"timestamp": now_ms()} | params
        payload = signing.payload(params.items())
        signature = self.signer.sign(payload) if signature is None else signature
        return f"{payload}&signature={quote(signature, safe='')}"

    async def call(self, method: str, path: str, *, api_key: str | None = None,
                   signature: str | None = None, **params: Any) -> httpx.Response:
        headers = {protocol.API_KEY_HEADER: self.api_key if api_key is None else api_key}
        return await self.http.request(method, f"{path}?{self.query(params, signature)}",
                                       headers=headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.call("GET", path, **params)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert protocol.USED_WEIGHT_HEADER in response.headers
    return response.json()


def refused(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and isinstance(body["msg"], str), body
    return body


class WsApi:
    """A WebSocket API connection: requests and their responses, and the events (and
    unsolicited frames) kept apart in arrival order."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.responses: dict[Any, dict[str, Any]] = {}

    @classmethod
    async def connect(cls, running: Running, query: str = "",
                      compression: str | None = "deflate") -> WsApi:
        ws = await websockets.connect(running.ws_urls["binance"] + query,
                                      compression=compression)
        return cls(ws)

    async def close(self) -> None:
        await self.ws.close()

    async def _read(self, within: float) -> None:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), within))
        if "status" in frame and frame.get("id") is not None:
            self.responses[frame["id"]] = frame
        else:
            self.events.append(frame)

    async def request(self, method: str, params: dict[str, Any] | None = None,
                      within: float = 2.0) -> dict[str, Any]:
        self.next_id += 1
        request_id = f"r{self.next_id}"
        await self.ws.send(json.dumps(protocol.request(request_id, method, params)))
        async with asyncio.timeout(within):
            while request_id not in self.responses:
                await self._read(within)
        return self.responses.pop(request_id)

    async def event(self, within: float = 2.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while not self.events:
                await self._read(within)
        return self.events.pop(0)

    async def signed(self, method: str, api_key: str, signer: signing.Signer,
                     **extra: Any) -> dict[str, Any]:
        params = {"apiKey": api_key, "timestamp": now_ms()} | extra
        params["signature"] = signer.sign(signing.ws_payload(params))
        return await self.request(method, params)
