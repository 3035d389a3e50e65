"""Property-based fuzzing of everything that parses the exchange's bytes.

The claim under test: whatever arrives ends either as a valid `OrderUpdate` (exact,
in-range, consistent) or as a typed rejection (`Invalid` from the codec, a bad frame from
the stream's frame decoder, an `ExchangeError` from REST), never as any other exception.
A generated WebSocket frame goes to the frame decoder the stream uses; a generated HTTP
answer is served by httpx's in-process transport to the real REST client code.
"""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.venues.bitmart.test_codec import PUSH, V2_ROW, V4_ROW
from tracker.batch import Batch
from tracker.book import Outcome
from tracker.codec import DECIMAL, STATES, Invalid, OrderUpdate, amount_text
from tracker.exchange.errors import ExchangeError
from tracker.frames import Ack, ErrorEvent, OrderPush, Pong
from tracker.frames import BadFrame as Bad
from tracker.storage import EVENT_COLUMNS, ORDER_COLUMNS, order_params
from tracker.venues.bitmart.codec import ORDER_ID, from_push, from_v2, from_v4, push_frame
from tracker.venues.bitmart.frames import decode
from tracker.venues.bitmart.keys import Keys as Credentials
from tracker.venues.bitmart.protocol import (
    ALL_ORDERS_TABLE,
    LEGACY_STATE,
    ORDER_TABLE,
    RATE_LIMIT_LIMIT,
    RATE_LIMIT_RESET,
    RATE_LIMIT_USED,
    V4_SUCCESS,
    deflate,
)
from tracker.venues.bitmart.rest import V2Rest, V4Rest

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=12)
odd_amounts = st.sampled_from([
    "NaN", "nan", "Infinity", "-Infinity", "inf", "-1", "-0", "+1", "1e5", "1E-3", "0x10",
    "9" * 31, "0." + "1" * 31, " 1", "1 ", "\n1", "1_000", "١٢", "²", ".5", "5.", "1.2.3",
    "", "0", "0.000", "1" * 30 + "." + "1" * 30]) | st.from_regex(
    r"-?[0-9]{0,35}(\.[0-9]{0,35})?([eE][+-]?[0-9]{1,3})?", fullmatch=True)
odd_ids = st.sampled_from(["", "abc", "-1", "1.5", "٣", "1" * 33, "0x1f", " 1", "1\n"]) \
    | st.integers(-2**70, 2**70) | st.floats()
odd_values = json_values | odd_amounts | odd_ids


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """A real row with some fields dropped, replaced by odd values, or added."""
    row = dict(base)
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=len(base), unique=True)):
        if draw(st.booleans()):
            del row[key]
        else:
            row[key] = draw(odd_values)
    row.update(draw(st.dictionaries(st.text(max_size=12), odd_values, max_size=3)))
    return row


def assert_sound(update: OrderUpdate) -> None:
    """What the book may be given: every amount exact, finite, non-negative, consistent."""
    assert ORDER_ID.fullmatch(update.order_id)
    assert update.state in STATES
    for amount in (update.price, update.size, update.filled_size):
        assert isinstance(amount, Decimal) and amount.is_finite() and amount >= 0
    if update.size > 0:
        assert update.filled_size <= update.size


def parse_or_reject(parser: Any, row: Any) -> None:
    try:
        update = parser(row)
    except Invalid as exc:
        assert str(exc)  # a reason a person can act on
    else:
        assert_sound(update)


@FUZZ
@given(st.one_of(mutated(PUSH), json_values))
def test_push_rows(row: Any) -> None:
    parse_or_reject(from_push, row)


@FUZZ
@given(st.one_of(mutated(V2_ROW), json_values))
def test_v2_rows(row: Any) -> None:
    parse_or_reject(from_v2, row)


@FUZZ
@given(st.one_of(mutated(V4_ROW), json_values))
def test_v4_rows(row: Any) -> None:
    parse_or_reject(from_v4, row)


# -- WebSocket frames -------------------------------------------------------------------


def push_message(rows: list[Any]) -> str:
    return json.dumps({"table": ORDER_TABLE, "data": rows})


frames = st.one_of(
    st.text(max_size=200), st.binary(max_size=200),
    json_values.map(json.dumps),
    st.lists(st.one_of(mutated(PUSH), json_values), max_size=4).map(push_message),
    st.lists(mutated(PUSH), max_size=3).map(lambda rows: deflate(push_message(rows).encode())),
    st.tuples(st.lists(mutated(PUSH), min_size=1, max_size=3), st.integers(1, 60)).map(
        lambda pair: deflate(push_message(pair[0]).encode())[:-pair[1]]),  # truncated
    json_values.map(lambda v: deflate(json.dumps(v).encode())),
)


WANTED = frozenset({"BTC_USDT"})


@FUZZ
@given(frames)
def test_stream_frames_end_as_a_push_a_rejection_or_nothing(frame: str | bytes) -> None:
    decoded = decode(frame, 1 << 16, WANTED)
    assert isinstance(decoded, Pong | Ack | ErrorEvent | Bad | OrderPush), decoded
    if isinstance(decoded, Bad):
        assert decoded.reason and len(decoded.excerpt) <= 400
        return
    if not isinstance(decoded, OrderPush):
        return  # a pong, an ack or an error event: logged, not journaled
    assert isinstance(decoded.data, list) and decoded.ignored >= 0
    for element in decoded.data:  # what the consumer does with each element next
        if isinstance(element, dict) and isinstance(element.get("symbol"), str):
            assert element["symbol"] in WANTED
        parse_or_reject(from_push, element)


# -- the codec's fast path for push frames against `from_push` ------------------------------

words = st.sampled_from([*STATES, *LEGACY_STATE, "buy", "sell", "limit", "market", "ioc",
                         "limit_maker", "0", "", "canceling", "BTC_USDT", "btc_usdt",
                         "2147857398", "1" * 32, "1609926044000", "1262303999999",
                         "4102444800001", "9" * 16, "9" * 17, "order 1", "a" * 65])
strings = words | odd_amounts | st.text(max_size=20)


@st.composite
def restrung(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """A real row whose values stay strings (the shape the fast path reads) but change:
    odd amounts, ids, states, times; some fields dropped."""
    row = dict(base)
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=3, unique=True)):
        if draw(st.integers(0, 3)) == 0:
            del row[key]
        else:
            row[key] = draw(strings)
    return row


def exactly(updates: list[OrderUpdate]) -> list[tuple[str, ...]]:
    """Every field as its repr: `Decimal("1.0") == Decimal("1")`, but they are stored
    differently, so equal is not enough."""
    return [tuple(repr(getattr(u, name)) for name in OrderUpdate.__struct_fields__)
            for u in updates]


@FUZZ
@given(st.lists(st.one_of(restrung(PUSH), mutated(PUSH)), max_size=3),
       st.sampled_from([ORDER_TABLE, ALL_ORDERS_TABLE, "spot/user/balance"]))
def test_the_fast_path_yields_exactly_what_from_push_yields_or_declines(
        rows: list[Any], table: str) -> None:
    fast = push_frame(json.dumps({"table": table, "data": rows}))
    if fast is None:
        return  # read by json.loads and from_push, as every frame was before
    assert fast[0] == table
    assert exactly(fast[1]) == exactly([from_push(row) for row in rows])


def test_the_exchange_s_own_push_shapes_take_the_fast_path() -> None:
    legacy = {k: v for k, v in PUSH.items() if k != "order_state"} | {"state": "7"}
    for row in (PUSH, legacy, {**PUSH, "filled_notional": "", "client_order_id": "0"}):
        text = json.dumps({"table": ORDER_TABLE, "data": [row, row]})
        fast = push_frame(text)
        assert fast is not None, row
        assert exactly(fast[1]) == exactly([from_push(row)] * 2)
        decoded = decode(deflate(text.encode()), 1 << 16, WANTED)
        assert isinstance(decoded, OrderPush)
        assert all(isinstance(u, OrderUpdate) for u in decoded.data)


def test_a_decompression_bomb_is_refused_by_size() -> None:
    bomb = deflate(b"{" * (64 << 20))  # 64 MiB from about 64 KB
    assert len(bomb) < 128 << 10
    decoded = decode(bomb, 1 << 20, WANTED)
    assert isinstance(decoded, Bad) and "inflates past 1048576 bytes" in decoded.reason
    assert len(decoded.excerpt) <= 400  # the excerpt is bounded, not the inflated bomb


# -- REST answers -----------------------------------------------------------------------


bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=120),
    st.just(b""),
    st.just(b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    st.lists(mutated(V2_ROW), max_size=3).map(lambda rows: json.dumps(
        {"orders": rows, "total_pages": 1, "total_orders": len(rows),
         "current_page": 0}).encode()),
    st.lists(mutated(V4_ROW), max_size=3).map(lambda rows: json.dumps(
        {"code": V4_SUCCESS, "message": "OK", "data": rows}).encode()),
    mutated(V4_ROW).map(lambda row: json.dumps({"code": V4_SUCCESS, "data": row}).encode()),
    st.fixed_dictionaries({"code": odd_values, "message": odd_values}).map(
        lambda d: json.dumps(d).encode()),
)
answers = st.tuples(
    st.sampled_from([200, 200, 200, 400, 401, 403, 404, 418, 429, 500, 502, 503]),
    st.sampled_from(["application/json", "text/plain", "text/html", ""]),
    st.dictionaries(st.sampled_from(["Retry-After", RATE_LIMIT_RESET, RATE_LIMIT_USED,
                                     RATE_LIMIT_LIMIT]),
                    st.sampled_from(["0", "1", "2", "999999999999", "-5", "²", "abc", ""]),
                    max_size=4),
    bodies)


def serve(answer: tuple[int, str, dict[str, str], bytes]) -> httpx.MockTransport:
    status, content_type, headers, body = answer
    headers = headers | ({"Content-Type": content_type} if content_type else {})
    raw = [(k.encode(), v.encode("utf-8")) for k, v in headers.items()]  # bytes, as sent

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=raw, content=body)

    return httpx.MockTransport(handler)


async def call_every_endpoint(client: V2Rest | V4Rest, slow_down: bool) -> None:
    """Each call may answer or raise an ExchangeError, or, where the answer said "slow
    down", still be waiting (at most a minute); anything else fails the test."""
    for call in (client.sync_clock, lambda: client.seed("BTC_USDT"),
                 lambda: client.order_detail("123", None)):
        try:
            result = await asyncio.wait_for(call(), 0.5)
        except ExchangeError as exc:
            assert str(exc)
        except TimeoutError:
            assert slow_down, "a call hung on an answer that did not ask to slow down"
        else:
            if isinstance(result, dict):  # an order detail: the codec takes it from here
                parse_or_reject(from_v2 if isinstance(client, V2Rest) else from_v4, result)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers)
def test_rest_answers_end_as_data_or_an_exchange_error(
        answer: tuple[int, str, dict[str, str], bytes]) -> None:
    creds = Credentials("key", "secret", "memo")
    slow_down = answer[0] == 429 or any(h != "Retry-After" for h in answer[2])  # X-BM-RateLimit-*

    async def run() -> None:
        for client in (V2Rest("http://exchange.test", creds, rate=0, retries=0, max_passes=2),
                       V4Rest("http://exchange.test", creds, retries=0)):
            client.http = httpx.AsyncClient(base_url="http://exchange.test",
                                            transport=serve(answer))
            try:
                await call_every_endpoint(client, slow_down)
            finally:
                await client.aclose()

    asyncio.run(run())


def test_a_5xx_from_the_clock_probe_is_an_exchange_error_with_its_status() -> None:
    async def run() -> str:
        client = V2Rest("http://exchange.test", Credentials("k", "s", "m"), retries=0)
        client.http = httpx.AsyncClient(base_url="http://exchange.test", transport=serve(
            (503, "text/html", {}, b"<html>down</html>")))
        try:
            await client.sync_clock()
        except ExchangeError as exc:
            return str(exc)
        finally:
            await client.aclose()
        return "no error"

    assert asyncio.run(run()) == "GET /v2/time: HTTP 503"


POSITIONAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@st.composite
def accepted_amounts(draw: st.DrawFn) -> str:
    """Any text the codec accepts as an amount; half of them small values with runs of
    zeros, which random digits seldom give, and which `str(Decimal)` writes as exponents
    ("0.00000000" as "0E-8")."""
    if draw(st.booleans()):
        return draw(st.from_regex(DECIMAL, fullmatch=True))
    whole = draw(st.sampled_from(["0", "1", "100"]) | st.from_regex(r"[0-9]{1,30}",
                                                                      fullmatch=True))
    zeros = draw(st.integers(0, 30))
    tail = draw(st.text("0123456789", max_size=30 - zeros))
    fraction = "0" * zeros + tail
    return f"{whole}.{fraction}" if fraction else whole


@FUZZ
@given(accepted_amounts(), accepted_amounts(), accepted_amounts(), accepted_amounts())
def test_every_accepted_amount_is_stored_as_written(price: str, a: str, b: str,
                                                    notional: str) -> None:
    """What the store binds for the book and the journal is the exchange's text, less any
    leading zeros: equal in value, positional, and unchanged when read back and rewritten."""
    filled, size = sorted((a, b), key=Decimal)  # a consistent order: filled <= size
    row = dict(PUSH, price=price, size=size, filled_size=filled, filled_notional=notional)
    update = from_push(row)
    batch = Batch()
    batch.order(update, 1, False)
    batch.journal(1, 1, "push", Outcome.APPLIED, update)
    bound = dict(zip(ORDER_COLUMNS, next(order_params(batch)), strict=True))
    journaled = dict(zip(EVENT_COLUMNS, batch.events[0], strict=True))
    written = {"price": (price, bound["price"]), "size": (size, bound["size"]),
               "filled_size": (filled, bound["filled_size"]),
               "filled_notional": (notional, bound["filled_notional"]),
               "journal filled_size": (filled, journaled["filled_size"])}
    for name, (given_text, stored) in written.items():
        assert POSITIONAL.fullmatch(stored), (name, stored)
        assert Decimal(stored) == Decimal(given_text), name
        assert stored == re.sub(r"^0+(?=[0-9])", "", given_text), name
        assert amount_text(Decimal(stored)) == stored, name  # stable across a reload
