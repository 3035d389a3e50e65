"""OKX's private-stream frames, each kind as the docs show it (payloads.py), decoded to what
the core's stream acts on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tracker.frames import (
    NOT_JSON,
    Ack,
    Ended,
    ErrorEvent,
    Handover,
    OrderPush,
    Pong,
    Unexpected,
    Unreadable,
)
from tracker.reasons import NotLive
from tracker.venues.okx.codec import from_push
from tracker.venues.okx.frames import cause_of, decode, read

from .payloads import (
    CONN_COUNT,
    CONN_COUNT_ERROR,
    LOGIN_ACK,
    LOGIN_FAILED,
    PLEASE_LOG_IN,
    PUSH_FILLED,
    PUSH_LIVE,
    SUBSCRIBE_ACK,
    SUBSCRIBE_ERROR,
    UPGRADE_NOTICE,
    push_frame,
)

ETH = PUSH_LIVE | {"instId": "ETH-USDT", "ordId": "452197707845865999"}


def test_pong_is_the_text_pong() -> None:
    assert decode("pong", None) == Pong()
    assert decode(b"pong", None) == Pong()


def test_an_orders_push_keeps_its_data_array() -> None:
    """Read by the authority, the elements stay raw for the codec; the frame decoder's fast
    path hands on what the codec makes of them."""
    frame = read(push_frame(PUSH_LIVE, PUSH_FILLED), None)
    assert frame == OrderPush([PUSH_LIVE, PUSH_FILLED], 0)
    assert isinstance(frame, OrderPush)
    assert [from_push(e).state for e in frame.data] == ["new", "filled"]
    assert decode(push_frame(PUSH_LIVE, PUSH_FILLED), None) == OrderPush(
        [from_push(PUSH_LIVE), from_push(PUSH_FILLED)], 0)


def test_a_push_keeps_the_wanted_instruments_and_counts_the_rest() -> None:
    odd = {"ordId": "1", "instId": 5}  # no string instId: kept for the codec to refuse
    frame = decode(push_frame(PUSH_LIVE, ETH, odd, "x"), frozenset({"BTC-USDT"}))
    assert frame == OrderPush([PUSH_LIVE, odd, "x"], 1)
    assert decode(push_frame(ETH), frozenset({"BTC-USDT"})) == OrderPush([], 1)


def test_a_push_of_another_channel_or_without_an_array_is_unexpected() -> None:
    other = decode(push_frame(PUSH_LIVE, arg={"channel": "account"}), None)
    assert isinstance(other, Unexpected) and "unexpected channel 'account'" in other.reason
    flat = decode(json.dumps({"arg": {"channel": "orders"}, "data": PUSH_LIVE}), None)
    assert isinstance(flat, Unexpected) and flat.reason == "push without a data array"


@pytest.mark.parametrize("event", [LOGIN_ACK, SUBSCRIBE_ACK, CONN_COUNT,
                                   {"event": "unsubscribe", "arg": SUBSCRIBE_ACK["arg"]}])
def test_acks(event: dict[str, Any]) -> None:
    assert decode(json.dumps(event), None) == Ack(event)


def test_a_subscribe_error_is_an_error_event_for_the_channel_to_judge() -> None:
    assert decode(json.dumps(SUBSCRIBE_ERROR), None) == ErrorEvent(
        "60012", "Invalid request: {...}", SUBSCRIBE_ERROR)


def test_the_upgrade_notice_hands_over() -> None:
    frame = decode(json.dumps(UPGRADE_NOTICE), None)
    assert isinstance(frame, Handover) and "service upgrade" in frame.reason


@pytest.mark.parametrize(("event", "cause", "words"), [
    (LOGIN_FAILED, NotLive.CREDENTIALS, "refused the login: code 60009 Login failed."),
    ({"event": "error", "code": "60024", "msg": "Wrong passphrase"}, NotLive.CREDENTIALS,
     "check api_key, api_secret and passphrase"),
    ({"event": "error", "code": "60006", "msg": "Timestamp request expired"}, NotLive.CLOCK,
     "timestamp: code 60006"),
    ({"event": "login", "code": "60009", "msg": "Login failed."}, NotLive.CREDENTIALS,
     "code 60009"),
    (PLEASE_LOG_IN, NotLive.DISCONNECTED, "not logged in: code 60011"),
    (CONN_COUNT_ERROR, NotLive.RATE_LIMITED, "more than 30 connections"),
])
def test_what_ends_the_subscription(event: dict[str, Any], cause: NotLive, words: str) -> None:
    frame = decode(json.dumps(event), None)
    assert isinstance(frame, Ended) and frame.cause is cause
    assert words in frame.reason


def test_other_errors_are_error_events() -> None:
    busy = {"event": "error", "code": "64007", "msg": "Internal error"}
    assert decode(json.dumps(busy), None) == ErrorEvent("64007", "Internal error", busy)


@pytest.mark.parametrize(("frame", "kind", "reason"), [
    (b"\xff\xfe", Unreadable, "frame is not UTF-8"),
    ("{not json", Unreadable, NOT_JSON),
    ("ping", Unreadable, NOT_JSON),
    ("1" * 5000, Unreadable, NOT_JSON),  # an integer past Python's digit limit
    ("[1, 2]", Unexpected, "unknown message"),
    ('{"hello": 1}', Unexpected, "unknown message"),
    ('{"event": "notice", "code": "1"}', Unexpected, "unknown event 'notice'"),
    ('{"event": "surprise"}', Unexpected, "unknown event 'surprise'"),
])
def test_bad_frames(frame: str | bytes, kind: type, reason: str) -> None:
    decoded = decode(frame, None)
    assert isinstance(decoded, kind) and decoded.reason == reason


@pytest.mark.parametrize(("status", "code", "cause"), [
    (401, "50113", NotLive.CREDENTIALS), (401, "50101", NotLive.CREDENTIALS),
    (401, "50105", NotLive.CREDENTIALS), (401, "50102", NotLive.CLOCK),
    (200, "50011", NotLive.RATE_LIMITED), (429, "50011", NotLive.RATE_LIMITED),
    (429, "50013", NotLive.RATE_LIMITED), (429, None, NotLive.RATE_LIMITED),
    (503, "50001", NotLive.EXCHANGE), (200, "51603", NotLive.EXCHANGE),
    (None, "60007", NotLive.CREDENTIALS), (None, "60004", NotLive.CLOCK),
    (None, "60014", NotLive.RATE_LIMITED),
])
def test_cause_of(status: int | None, code: str | None, cause: NotLive) -> None:
    assert cause_of(status, code) is cause


@pytest.mark.parametrize("body", [{"event": [], "data": []}, {"event": {"op": "login"}},
                                  {"event": "error", "code": ["60009"], "msg": "x"}])
def test_an_event_of_another_json_type_is_unexpected_not_a_crash(body: dict[str, Any]) -> None:
    """An `event` (or its `code`) that is a list or an object cannot be looked up among the
    names OKX writes: the frame is unexpected (or an error of no known code), never a
    TypeError out of the decoder."""
    frame = decode(json.dumps(body), None)
    assert isinstance(frame, Unexpected | ErrorEvent), frame
    assert cause_of(None, ["60009"]) is NotLive.EXCHANGE
