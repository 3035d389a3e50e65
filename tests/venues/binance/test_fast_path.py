"""The codec's fast path for `executionReport` frames (`report_frame`) against the
authoritative reading (`json.loads`, the frame decoder's `read`, `from_event`): every frame
the fast path takes must give exactly what the authority gives, and the frames Binance
sends must take it."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import burst
from simulator.faces.binance import load
from tracker.codec import Invalid, OrderUpdate
from tracker.frames import EXCERPT, NOT_JSON, OrderPush, Unreadable
from tracker.venues.binance.codec import from_event, from_rest, open_orders_answer, report_frame
from tracker.venues.binance.frames import decode, read

from .payloads import EVENT_2018, EVENT_2023, EVENT_2026, REST_ROW

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values of every kind for the fields `from_event` reads: Binance's own, odd spellings of
# amounts, ids and times, and JSON types it never sends there.
odd = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
       | st.text(max_size=12) | st.lists(st.integers(), max_size=2)
       | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
amounts = st.sampled_from([
    "0", "1", "0.0", "0.00000000", "1.00000000", "2.00000000", "0.50000000", "1.5", "3",
    "-1.00000000", "-0", "1e5", "1E-3", "NaN", "Infinity", " 1", "1.", ".5", "", "9" * 30,
    "9" * 31, "0." + "1" * 30, "0." + "1" * 31, "\u0661", "0x1"]) | st.from_regex(
    r"-?[0-9]{1,4}(\.[0-9]{0,9})?", fullmatch=True)
times = st.sampled_from([
    1499405658657, 1262304000000, 1262303999999, 4102444800000, 4102444800001, -1, 0,
    "1499405658657", "9" * 16, "9" * 17, "-1499405658657", "1.5", 1.0, 1e12, True, 2**64])
clients = st.sampled_from(["", "null", "web_7f1c2d3e4f", "mUvoqJxFIILMdfAW5iGSOW", "a b",
                           "x" * 64, "x" * 65, "é", None, 5, True])
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "e": st.sampled_from(["executionReport", "listStatus", "executionreport", 5, None]),
    "s": st.sampled_from(["ETHBTC", "BTCUSDT", "btcusdt", "BTC_USDT", "这是测试币456",
                          "BTC USDT", "A" * 40, "A" * 41, "", "BTC:USDT", 5]),
    "S": st.sampled_from(["BUY", "SELL", "buy", "", None, 1]),
    "X": st.sampled_from(["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED",
                          "EXPIRED_IN_MATCH", "REJECTED", "PENDING_CANCEL", "PENDING_NEW",
                          "new", "TRADE", None, 3]),
    "x": st.sampled_from(["NEW", "CANCELED", "TRADE", "REPLACED", "EXPIRED", "canceled",
                          None, 1]),
    "i": st.integers(-3, 3) | st.sampled_from([4293153, 2**63, 2**64, 10**25, True, 1.0, 1e3,
                                               "4293153", None]),
    "q": amounts, "z": amounts, "p": amounts, "Q": amounts, "Z": amounts,
    "T": times, "O": times,
    "c": clients, "C": clients,
    "o": st.sampled_from(["LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "PEGGED",
                          "limit", "", None, 7]),
    "t": st.sampled_from([-1, 0, 31234567, 2**64, True, None, "5", 1.5]),
}


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """A real event with some of the fields `from_event` reads dropped or changed, and
    fields it does not read added (Binance adds some every year)."""
    event = dict(draw(st.sampled_from([EVENT_2026, EVENT_2023, EVENT_2018])))
    for key in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        match draw(st.integers(0, 5)):
            case 0:
                event.pop(key, None)
            case 1:
                event[key] = draw(odd)
            case _:
                event[key] = draw(FIELDS[key])
    event.update(draw(st.dictionaries(st.sampled_from(["eR", "v", "Uu", "W", "pl", "zz"]),
                                      odd, max_size=3)))
    return event


@st.composite
def frames(draw: st.DrawFn) -> str:
    """An event in the WebSocket API's envelope, spelled as Binance or another encoder
    might (spacing, non-ASCII as is or escaped), sometimes with more in the envelope, a
    field said twice, or something more after it."""
    envelope: dict[str, Any] = {"subscriptionId": draw(st.integers(0, 3)), "event": draw(events())}
    envelope.update(draw(st.dictionaries(st.sampled_from(["data", "id", "status", "stream"]),
                                         odd, max_size=2)))
    text = json.dumps(envelope, ensure_ascii=draw(st.booleans()),
                      separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    match draw(st.integers(0, 5)):
        case 0:  # a field the codec reads, said again at the end of the event
            key = draw(st.sampled_from(sorted(FIELDS)))
            value = draw(FIELDS[key] | odd)
            text = text.replace('"event": {', '"event":{').replace(
                '"event":{', '"event":{' + json.dumps(key) + ":" + json.dumps(value) + ",", 1)
        case 1:  # the envelope's event said twice
            text = text[:-1] + ',"event":' + json.dumps(draw(events())) + "}"
        case 2:
            text = text + draw(st.sampled_from([" ", "\n", "x", "}", " {}", "\x00"]))
        case 3:  # an unread field of a value json.loads reads and msgspec may not
            text = text[:-1] + ',"zz":' + draw(st.sampled_from(
                ["NaN", "Infinity", '"\\udc00"', "1" + "0" * 5000, "[" * 2000 + "]" * 2000,
                 "1e999", "01", "[1,]"])) + "}"
    return text


WANTED = st.sampled_from([None, frozenset({"ETHBTC"}), frozenset({"BTCUSDT", "这是测试币456"})])


def exactly(update: OrderUpdate) -> tuple[str, ...]:
    """Every field as its repr: `Decimal("1.0") == Decimal("1")`, but they are stored
    differently, so equal is not enough."""
    return tuple(repr(getattr(update, name)) for name in OrderUpdate.__struct_fields__)


def one_field_changed() -> st.SearchStrategy[str]:
    """A real event in its envelope with one field `from_event` reads changed: the rest
    stays valid, so that the fast path is offered what that one field makes of it."""
    return st.tuples(st.sampled_from([EVENT_2026, EVENT_2023, EVENT_2018]),
                     st.sampled_from(sorted(FIELDS)).flatmap(
                         lambda key: st.tuples(st.just(key), FIELDS[key]))).map(
        lambda pair: json.dumps({"subscriptionId": 0,
                                 "event": pair[0] | {pair[1][0]: pair[1][1]}}))


@FUZZ
@given(frames(), WANTED)
def test_a_frame_the_fast_path_takes_reads_exactly_as_the_authority_reads_it(
        text: str, wanted: frozenset[str] | None) -> None:
    same_either_way(text, wanted)


@settings(max_examples=1500, deadline=None)
@given(one_field_changed(), WANTED)
def test_each_field_alone_reads_exactly_as_the_authority_reads_it(
        text: str, wanted: frozenset[str] | None) -> None:
    same_either_way(text, wanted)


def same_either_way(text: str, wanted: frozenset[str] | None) -> None:
    """The fast path takes the frame only to yield what `read` and `from_event` yield."""
    fast = report_frame(text)
    if fast is None:
        return  # read by json.loads, `read` and `from_event`, as every frame was before
    slow = read(text, wanted)
    assert isinstance(slow, OrderPush), slow
    event = json.loads(text)["event"]  # the event as the authority read it
    if slow.data:  # kept: the update `from_event` makes of it, field by field
        assert slow.ignored == 0 and slow.data == [event]
        try:
            update = from_event(event)
        except Invalid as exc:
            raise AssertionError(f"the fast path took an event from_event refuses: {exc}") from None
        assert exactly(fast) == exactly(update)
    else:  # an order of a symbol not wanted: counted as ignored
        assert slow.ignored == 1 and wanted is not None and fast.symbol not in wanted
    decoded = decode(text, wanted)  # the frame decoder the stream uses, on either path
    assert isinstance(decoded, OrderPush) and decoded.ignored == slow.ignored
    assert [exactly(u) for u in decoded.data] == ([exactly(fast)] if slow.data else [])


@FUZZ
@given(frames(), WANTED)
def test_the_frame_decoder_gives_what_the_authority_gives(
        text: str, wanted: frozenset[str] | None) -> None:
    """Whichever path reads a frame, the stream sees the same frame kind, counts, and
    updates (an element left raw is read by `from_event` in the session)."""
    decoded, slow = decode(text, wanted), read(text, wanted)
    assert type(decoded) is type(slow)
    if isinstance(slow, OrderPush):
        assert isinstance(decoded, OrderPush) and decoded.ignored == slow.ignored
        assert len(decoded.data) == len(slow.data)
        for ours, theirs in zip(decoded.data, slow.data, strict=True):
            if isinstance(ours, OrderUpdate):
                assert exactly(ours) == exactly(from_event(theirs))
            else:
                assert ours == theirs


def test_the_events_binance_sends_take_the_fast_path() -> None:
    start_ms = int(time.time() * 1000)
    sent = [*(json.dumps({"subscriptionId": 0, "event": e}) for e in (EVENT_2026, EVENT_2023,
                                                                        EVENT_2018)),
            *(load.frame(push) for push in burst.burst_pushes(10, 40, "BTC_USDT", start_ms))]
    for text in sent:
        fast = report_frame(text)
        assert fast is not None, text
        assert exactly(fast) == exactly(from_event(json.loads(text)["event"]))
        decoded = decode(text, None)
        assert isinstance(decoded, OrderPush) and decoded.data == [fast]


def test_an_integer_too_long_for_json_loads_is_an_unreadable_frame() -> None:
    """Python's `json.loads` refuses integers of more than 4300 digits (a ValueError that
    is not a JSONDecodeError); such a frame is unreadable, not an exception in the stream,
    and the fast path, whose parser would read it, leaves it alone."""
    text = json.dumps({"subscriptionId": 0, "event": EVENT_2026})[:-1] + ',"zz":1' + "0" * 5000
    text += "}"
    assert report_frame(text) is None
    assert decode(text, None) == Unreadable(NOT_JSON, text[:EXCERPT])


# -- openOrders answers --------------------------------------------------------------------

# The fields `from_rest` reads, by the event letter whose values they share.
REST_NAMES = {"s": "symbol", "S": "side", "X": "status", "i": "orderId", "q": "origQty",
              "z": "executedQty", "p": "price", "Q": "origQuoteOrderQty",
              "Z": "cummulativeQuoteQty", "T": "updateTime", "O": "time",
              "c": "clientOrderId", "o": "type"}


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    """An openOrders answer of a few rows, each Binance's with some of the fields
    `from_rest` reads dropped or changed and unread fields added, spelled either way."""
    rows: list[Any] = []
    for _ in range(draw(st.integers(0, 3))):
        row = dict(REST_ROW)
        for letter in draw(st.lists(st.sampled_from(sorted(REST_NAMES)), max_size=2,
                                    unique=True)):
            match draw(st.integers(0, 5)):
                case 0:
                    row.pop(REST_NAMES[letter], None)
                case 1:
                    row[REST_NAMES[letter]] = draw(odd)
                case _:
                    row[REST_NAMES[letter]] = draw(FIELDS[letter])
        row.update(draw(st.dictionaries(st.sampled_from(["selfTradePreventionMode", "zz"]),
                                        odd, max_size=2)))
        rows.append(row if draw(st.integers(0, 9)) else draw(odd))
    return json.dumps(rows, ensure_ascii=draw(st.booleans())).encode()


@FUZZ
@given(answers())
def test_an_answer_the_fast_path_takes_reads_exactly_as_from_rest_reads_it(body: bytes) -> None:
    fast = open_orders_answer(body, "seed")
    if fast is None:
        return  # read by json.loads and from_rest, row by row, as every answer was before
    rows = json.loads(body)
    assert isinstance(rows, list) and len(rows) == len(fast)
    for ours, row in zip(fast, rows, strict=True):
        try:
            update = from_rest(row, "seed")
        except Invalid as exc:
            raise AssertionError(f"the fast path took a row from_rest refuses: {exc}") from None
        assert exactly(ours) == exactly(update)


def test_the_rows_binance_sends_take_the_fast_path() -> None:
    rows = [REST_ROW | {"orderId": n, "symbol": s} for n, s in enumerate(
        ["LTCBTC", "这是测试币456", "BTCUSDT"])]
    body = json.dumps(rows, ensure_ascii=False).encode()
    fast = open_orders_answer(body, "seed")
    assert fast is not None
    assert [exactly(u) for u in fast] == [exactly(from_rest(r, "seed")) for r in rows]
