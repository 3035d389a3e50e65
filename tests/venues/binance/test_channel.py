"""Binance's channel: the subscribe requests it signs and the answers it waits for, with a
fake connection (the whole stream against the simulator's face is in test_face.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tracker.exchange.errors import StreamError
from tracker.reasons import NotLive
from tracker.venues.binance import protocol as p
from tracker.venues.binance.channel import BinanceChannel
from tracker.venues.binance.signing import public_pem, signer, verify, ws_payload

from .keys import API_KEY, HMAC_SECRET, secret_of

Answer = Callable[[dict[str, Any]], dict[str, Any]]


def ok(result: Any) -> Answer:
    return lambda request: {"id": request["id"], "status": 200, "result": result}


def refused(status: int, code: int) -> Answer:
    return lambda request: {"id": request["id"], "status": status,
                            "error": {"code": code, "msg": "refused"}}


class Connection:
    """Answers each request in turn, with `before` frames first."""

    def __init__(self, *answers: Answer, before: list[Any] | None = None) -> None:
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []
        self.pending: list[Any] = []
        self.before = before or []

    async def send(self, text: str) -> None:
        request = json.loads(text)
        self.sent.append(request)
        self.pending += [*self.before, self.answers.pop(0)(request)]
        self.before = []

    async def reply(self) -> Any:
        return self.pending.pop(0)

    def open(self, channel: BinanceChannel) -> Awaitable[dict[str, Any]]:
        return channel.open(self.send, self.reply, 0)


def channel(kind: str = "hmac", **kwargs: Any) -> BinanceChannel:
    return BinanceChannel("wss://ws-api.binance.test/ws-api/v3", API_KEY,
                          signer(secret_of(kind)), ["BTCUSDT"], **kwargs)


@pytest.mark.parametrize("kind", ["hmac", "rsa", "ed25519"])
async def test_subscribe_signature_for_every_key_type(kind: str) -> None:
    conn = Connection(ok({"subscriptionId": 0}))
    up = await conn.open(channel(kind, recv_window_ms=3000))
    (request,) = conn.sent
    assert request["method"] == "userDataStream.subscribe.signature"
    params = request["params"]
    assert params["apiKey"] == API_KEY and params["recvWindow"] == 3000
    secret = secret_of(kind)
    assert verify(secret if kind == "hmac" else public_pem(secret), ws_payload(params),
                  params["signature"])
    assert up == {"method": "userDataStream.subscribe.signature", "subscription": 0,
                  "key_type": kind, "symbols": 1}


async def test_logon_then_subscribe_for_an_ed25519_key() -> None:
    conn = Connection(ok({"apiKey": API_KEY, "authorizedSince": 1}), ok({"subscriptionId": 3}))
    up = await conn.open(channel("ed25519", logon=True))
    assert [r["method"] for r in conn.sent] == ["session.logon", "userDataStream.subscribe"]
    assert "params" not in conn.sent[1] and up["subscription"] == 3
    assert verify(public_pem(secret_of("ed25519")), ws_payload(conn.sent[0]["params"]),
                  conn.sent[0]["params"]["signature"])


async def test_the_answer_is_the_one_with_the_requests_id() -> None:
    stray = {"id": "someone-else", "status": 200, "result": {}}
    conn = Connection(ok({"subscriptionId": 1}), before=[stray])
    assert (await conn.open(channel()))["subscription"] == 1


@pytest.mark.parametrize(("answer", "cause", "words"), [
    (refused(401, -2015), NotLive.CREDENTIALS, "Enable Reading"),
    (refused(400, -1022), NotLive.CREDENTIALS, "key_type"),
    (refused(400, -1021), NotLive.CLOCK, "-1021"),
    (refused(429, -1003), NotLive.RATE_LIMITED, "429"),
    (refused(418, -1003), NotLive.RATE_LIMITED, "418"),
    (refused(400, -2035), NotLive.EXCHANGE, "-2035"),
    (lambda r: {"id": None, "status": 401, "error": {"code": -2015, "msg": "revoked"}},
     NotLive.CREDENTIALS, "revoked"),
])
async def test_refusals_carry_their_cause(answer: Answer, cause: NotLive, words: str) -> None:
    with pytest.raises(StreamError, match=words) as refusal:
        await Connection(answer).open(channel())
    assert refusal.value.cause is cause


async def test_what_the_core_needs_of_it() -> None:
    c = channel()
    assert c.ping is None and c.max_age_s == p.MAX_CONNECTION_AGE_S == 86400
    assert HMAC_SECRET not in repr(c.key)
