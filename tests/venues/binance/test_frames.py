"""Binance's frame decoder: every envelope, event kind and response a connection sees."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tracker.frames import Ack, Ended, ErrorEvent, Handover, OrderPush, Unexpected, Unreadable
from tracker.reasons import NotLive
from tracker.venues.binance.codec import from_event
from tracker.venues.binance.frames import decode

from .payloads import EVENT_2018, EVENT_2026, event

WANTED = frozenset({"ETHBTC"})


@pytest.mark.parametrize(("envelope", "whole"), [
    # The WebSocket API's, 2025 on: read whole by the codec's fast path.
    (lambda e: {"subscriptionId": 0, "event": e}, True),
    (lambda e: {"stream": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1", "data": e}, False),  # listenKey
    (lambda e: e, False),  # bare
])
def test_every_envelope_of_an_execution_report(envelope: Any, whole: bool) -> None:
    for payload in (EVENT_2026, EVENT_2018):
        frame = json.dumps(envelope(payload))
        pushed = OrderPush([from_event(payload) if whole else payload], 0)
        assert decode(frame, WANTED) == pushed
        assert decode(frame.encode(), None) == pushed


def test_other_symbols_are_counted_not_kept() -> None:
    frame = json.dumps({"subscriptionId": 0, "event": event(s="BNBUSDT")})
    assert decode(frame, WANTED) == OrderPush([], 1)
    assert decode(frame, None) == OrderPush([from_event(event(s="BNBUSDT"))], 0)
    # No string symbol: kept, for the codec to refuse where a person sees it.
    odd = event(s=5)
    assert decode(json.dumps({"event": odd}), WANTED) == OrderPush([odd], 0)


@pytest.mark.parametrize("kind", ["outboundAccountPosition", "balanceUpdate",
                                  "externalLockUpdate", "listStatus", "somethingNew2027"])
def test_events_of_no_orders_state_are_ignored_and_counted(kind: str) -> None:
    frame = json.dumps({"subscriptionId": 0, "event": {"e": kind, "E": 1, "zz": [1]}})
    assert decode(frame, WANTED) == OrderPush([], 1)


def test_server_shutdown_hands_over() -> None:
    frame = json.dumps({"event": {"e": "serverShutdown", "E": 1}})
    assert isinstance(decode(frame, WANTED), Handover)


def test_a_terminated_stream_ends_the_subscription() -> None:
    frame = json.dumps({"subscriptionId": 0, "event": {"e": "eventStreamTerminated", "E": 1}})
    ended = decode(frame, WANTED)
    assert isinstance(ended, Ended) and ended.cause is NotLive.DISCONNECTED


def test_a_revoked_key_ends_the_session_as_credentials() -> None:
    """[BN] web-socket-api.md: an invalid key's session is revoked with a null id."""
    frame = json.dumps({"id": None, "status": 401, "error": {
        "code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}})
    ended = decode(frame, WANTED)
    assert isinstance(ended, Ended) and ended.cause is NotLive.CREDENTIALS
    assert "-2015" in ended.reason and "Enable Reading" in ended.reason


@pytest.mark.parametrize(("status", "code", "cause"), [
    (429, -1003, NotLive.RATE_LIMITED), (418, -1003, NotLive.RATE_LIMITED),
    (400, -1021, NotLive.CLOCK), (400, -1022, NotLive.CREDENTIALS),
    (500, -1001, NotLive.EXCHANGE),
])
def test_unasked_errors_end_with_their_cause(status: int, code: int, cause: NotLive) -> None:
    frame = json.dumps({"id": None, "status": status, "error": {"code": code, "msg": "m"}})
    ended = decode(frame, WANTED)
    assert isinstance(ended, Ended) and ended.cause is cause


def test_responses_to_requests() -> None:
    ok = {"id": "1", "status": 200, "result": {"subscriptionId": 0}}
    assert decode(json.dumps(ok), WANTED) == Ack(ok)
    refused = {"id": "1", "status": 400, "error": {"code": -2035, "msg": "active"}}
    assert decode(json.dumps(refused), WANTED) == ErrorEvent("-2035", "active", refused)


@pytest.mark.parametrize(("frame", "kind"), [
    ("not json", Unreadable), (b"\xff\xfe", Unreadable), ("[1, 2]", Unexpected),
    ('{"hello": 1}', Unexpected), ('{"event": {"e": 5}}', Unexpected),
    ('{"subscriptionId": 0, "event": "text"}', Unexpected),
])
def test_what_is_not_binance(frame: str | bytes, kind: type) -> None:
    assert isinstance(decode(frame, WANTED), kind)
