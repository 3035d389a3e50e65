"""The stream's frame decoder, one outcome at a time, and the stream's use of it over a real
socket to a scripted exchange.

The decoder decides what a frame is with no connection at all; the stream only counts,
logs and queues what it is told, so its part is checked once per outcome.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets
from structlog.testing import capture_logs

from tracker.events import Bad as BadEvent
from tracker.events import Down, Event, Push, Up
from tracker.exchange.stream import Stream
from tracker.frames import (
    NOT_JSON,
    Ack,
    ErrorEvent,
    OrderPush,
    Pong,
    Unexpected,
    Unreadable,
)
from tracker.frames import BadFrame as Bad
from tracker.reasons import NotLive
from tracker.venues.bitmart.channel import BitMartChannel
from tracker.venues.bitmart.frames import decode, frame_text
from tracker.venues.bitmart.keys import Keys
from tracker.venues.bitmart.protocol import (
    ALL_ORDERS_TABLE,
    LOGIN,
    ORDER_TABLE,
    PING,
    PONG,
    SUBSCRIBE,
    UNSUBSCRIBE,
    deflate,
    order_topic,
)

LIMIT = 1 << 20
NOT_DEFLATE = b"\xff\x00 not deflate"
WANTED = frozenset({"BTC_USDT"})
BTC = {"symbol": "BTC_USDT", "order_id": "1"}
ETH = {"symbol": "ETH_USDT", "order_id": "2"}


def push(data: Any, table: Any = ORDER_TABLE) -> str:
    return json.dumps({"table": table, "data": data})


# -- pongs and pushes -------------------------------------------------------------------


def test_a_pong_text_or_deflated_is_a_pong() -> None:
    assert decode(PONG, LIMIT, WANTED) == Pong()
    assert decode(deflate(PONG.encode()), LIMIT, WANTED) == Pong()


@pytest.mark.parametrize("table", [ORDER_TABLE, ALL_ORDERS_TABLE])
def test_a_push_keeps_the_wanted_symbols_and_counts_the_rest(table: str) -> None:
    assert decode(push([ETH, BTC, ETH], table), LIMIT, WANTED) == OrderPush([BTC], 2)


def test_a_push_of_other_symbols_only_keeps_nothing_and_counts_them_all() -> None:
    assert decode(push([ETH, ETH]), LIMIT, WANTED) == OrderPush([], 2)


def test_every_symbol_wanted_keeps_everything() -> None:
    assert decode(push([ETH, BTC]), LIMIT, None) == OrderPush([ETH, BTC], 0)


def test_an_element_without_a_string_symbol_is_kept_for_the_codec_to_judge() -> None:
    odd = ["not an object", {"symbol": 5, "order_id": "3"}, {"order_id": "4"}, None, 7]
    assert decode(push([ETH, *odd]), LIMIT, WANTED) == OrderPush(odd, 1)


def test_a_deflated_push_is_inflated() -> None:
    frame = deflate(push([BTC, ETH]).encode())
    assert decode(frame, LIMIT, WANTED) == OrderPush([BTC], 1)


def test_an_empty_data_array_is_a_push_of_nothing() -> None:
    assert decode(push([]), LIMIT, WANTED) == OrderPush([], 0)


# -- answers and error events -----------------------------------------------------------


@pytest.mark.parametrize("op", [SUBSCRIBE, UNSUBSCRIBE])
def test_a_subscribe_or_unsubscribe_answer_is_an_ack(op: str) -> None:
    body = {"event": op, "topic": order_topic("BTC_USDT")}
    assert decode(json.dumps(body), LIMIT, WANTED) == Ack(body)


def test_an_error_event_gives_its_code_and_message_as_text() -> None:
    body = {"event": SUBSCRIBE, "errorCode": 90007, "errorMessage": "Too many requests"}
    assert decode(json.dumps(body), LIMIT, WANTED) == ErrorEvent(
        "90007", "Too many requests", body)


def test_a_login_answer_is_no_ack_but_keeps_its_body_for_the_login_to_judge() -> None:
    body = {"event": LOGIN}
    decoded = decode(json.dumps(body), LIMIT, WANTED)
    assert decoded == Unexpected("unknown message", json.dumps(body), body)


@pytest.mark.parametrize("text, body", [
    ('{"event": "hello"}', {"event": "hello"}),
    ("[1, 2]", [1, 2]),
    ("null", None),
    ('"pong "', "pong "),
    ('{"table": 5, "data": []}', {"table": 5, "data": []}),  # no string table: no push
])
def test_any_other_json_is_an_unknown_message(text: str, body: Any) -> None:
    assert decode(text, LIMIT, WANTED) == Unexpected("unknown message", text, body)


# -- bad frames -------------------------------------------------------------------------


def test_a_push_for_another_table_is_bad() -> None:
    text = push([BTC], "spot/ticker")
    decoded = decode(text, LIMIT, WANTED)
    assert decoded == Unexpected("push for an unexpected table 'spot/ticker'", text,
                                 json.loads(text))


def test_an_unexpected_table_name_and_the_excerpt_are_bounded() -> None:
    text = push([BTC] * 20, "t" * 500)
    decoded = decode(text, LIMIT, WANTED)
    assert isinstance(decoded, Unexpected)
    assert decoded.reason == f"push for an unexpected table {'t' * 60!r}"
    assert decoded.excerpt == text[:200]


@pytest.mark.parametrize("text", [
    json.dumps({"table": ORDER_TABLE}),
    json.dumps({"table": ORDER_TABLE, "data": {"symbol": "BTC_USDT"}}),
    json.dumps({"table": ORDER_TABLE, "data": "[]"}),
])
def test_a_push_without_a_data_array_is_bad(text: str) -> None:
    assert decode(text, LIMIT, WANTED) == Unexpected("push without a data array", text,
                                                     json.loads(text))


def test_a_table_outranks_an_error_code() -> None:
    text = json.dumps({"table": "spot/ticker", "errorCode": "1"})
    decoded = decode(text, LIMIT, WANTED)
    assert isinstance(decoded, Unexpected) and decoded.reason.startswith("push for an")


def test_text_that_is_not_json_is_bad_with_a_bounded_excerpt() -> None:
    assert decode("{oops", LIMIT, WANTED) == Unreadable(NOT_JSON, "{oops")
    assert decode("x" * 1000, LIMIT, WANTED) == Unreadable(NOT_JSON, "x" * 200)


def test_json_nested_past_the_recursion_limit_is_bad_not_a_crash() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(deep)
    assert decode(deep, LIMIT, WANTED) == Unreadable(NOT_JSON, deep[:200])


def test_a_binary_frame_that_is_not_deflate_is_bad_and_shown_in_hex() -> None:
    decoded = decode(NOT_DEFLATE, LIMIT, WANTED)
    assert isinstance(decoded, Unreadable)
    assert decoded.reason.startswith("binary frame is not raw DEFLATE")
    assert decoded.excerpt == NOT_DEFLATE.hex()


def test_a_deflated_frame_that_is_not_utf8_is_bad() -> None:
    frame = deflate(b"\xff\xfe{}")
    assert decode(frame, LIMIT, WANTED) == Unreadable("frame is not UTF-8",
                                                      frame.hex())


def test_a_decompression_bomb_is_refused_at_the_cap() -> None:
    bomb = deflate(b"{" * (8 << 20))  # 8 MiB from a few KB
    decoded = decode(bomb, LIMIT, WANTED)
    assert decoded == Unreadable(f"binary frame inflates past {LIMIT} bytes",
                                 bomb[:200].hex())
    assert isinstance(decoded, Bad) and len(decoded.excerpt) == 400


def test_a_frame_just_within_the_cap_is_read() -> None:
    text = push([BTC])
    frame = deflate(text.encode())
    assert decode(frame, len(text), WANTED) == OrderPush([BTC], 0)
    assert isinstance(decode(frame, len(text) - 1, WANTED), Unreadable)


def test_frame_text_passes_text_through_and_inflates_binary() -> None:
    assert frame_text("anything", 1) == "anything"
    assert frame_text(deflate(b'{"a": 1}'), LIMIT) == '{"a": 1}'


# -- the stream's use of it, over a socket ----------------------------------------------

Script = Callable[[dict[str, Any]], list[str | bytes]]


def acks(request: dict[str, Any]) -> list[str | bytes]:
    """What the exchange answers to a request that goes well."""
    if request["op"] == LOGIN:
        return [json.dumps({"event": LOGIN})]
    return [json.dumps({"event": request["op"], "topic": t}) for t in request["args"]]


@asynccontextmanager
async def exchange(script: Script,
                   after_up: Sequence[str | bytes] = ()) -> AsyncIterator[str]:
    """A WebSocket server that answers each request with the script's frames, and once the
    client has subscribed, sends `after_up`; the URL to it."""
    async def handler(ws: websockets.ServerConnection) -> None:
        async for raw in ws:
            if raw == PING:
                await ws.send(PONG)
                continue
            request = json.loads(raw)
            for frame in script(request):
                await ws.send(frame)
            if request["op"] == SUBSCRIBE:
                for frame in after_up:
                    await ws.send(frame)

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/user"


@asynccontextmanager
async def running(url: str) -> AsyncIterator[tuple[Stream, asyncio.Queue[Event]]]:
    queue: asyncio.Queue[Event] = asyncio.Queue()
    stream = Stream(BitMartChannel(url, Keys("key", "secret", "memo"), ["BTC_USDT"]), queue,
                    backoff_initial=0.01, backoff_max=0.01)
    task = asyncio.create_task(stream.run())
    try:
        yield stream, queue
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def next_event(queue: asyncio.Queue[Event]) -> Event:
    return await asyncio.wait_for(queue.get(), 5)


async def test_the_stream_counts_logs_and_queues_each_outcome() -> None:
    after_up: list[str | bytes] = [
        PONG, json.dumps({"event": SUBSCRIBE, "topic": order_topic("BTC_USDT")}),
        json.dumps({"event": "error", "errorCode": "90001", "errorMessage": "m" * 300}),
        push([ETH]), push([ETH, BTC]), "{oops", deflate(b"{" * (2 << 20))]
    with capture_logs() as logs:
        async with exchange(acks, after_up) as url, running(url) as (stream, queue):
            assert isinstance(await next_event(queue), Up)
            pushed = await next_event(queue)
            assert isinstance(pushed, Push) and (pushed.conn, pushed.data) == (1, [BTC])
            not_json = await next_event(queue)
            assert isinstance(not_json, BadEvent)
            assert (not_json.conn, not_json.reason, not_json.excerpt) == (1, NOT_JSON, "{oops")
            bomb = await next_event(queue)
            assert isinstance(bomb, BadEvent) and "inflates past" in bomb.reason
            assert queue.empty()
            assert (stream.stats["pushes"], stream.stats["ignored"],
                    stream.stats["error_events"], stream.stats["bad_frames"]) == (2, 2, 1, 2)
    [error] = [e for e in logs if e["event"] == "stream_error_event"]
    assert (error["code"], error["message"]) == ("90001", "m" * 200)


async def test_pushes_before_the_last_ack_are_reported_once_up_and_counted_once() -> None:
    early = [push([BTC, ETH]), json.dumps({"table": 5, "data": []})]

    def script(request: dict[str, Any]) -> list[str | bytes]:
        return [*early, *acks(request)] if request["op"] == SUBSCRIBE else acks(request)

    async with exchange(script) as url, running(url) as (stream, queue):
        assert isinstance(await next_event(queue), Up)
        pushed = await next_event(queue)
        assert isinstance(pushed, Push) and pushed.data == [BTC]
        # A frame that is no push is an answer, whatever it holds (the core knows no
        # venue's shapes): the subscribe waits on past one that acks no topic of its own.
        assert (stream.stats["pushes"], stream.stats["ignored"]) == (1, 1)


async def test_an_unreadable_answer_while_connecting_ends_only_the_connection() -> None:
    def script(request: dict[str, Any]) -> list[str | bytes]:
        return [NOT_DEFLATE] if request["op"] == LOGIN else acks(request)

    async with exchange(script) as url, running(url) as (stream, queue):
        for conn in (1, 2):  # the stream tries again after the first
            down = await next_event(queue)
            assert isinstance(down, Down) and down.conn == conn
            assert down.cause == NotLive.EXCHANGE
            assert down.reason == f"unreadable answer: {NOT_DEFLATE.hex()!r}"
        assert stream.reconnects >= 2
