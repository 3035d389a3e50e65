"""The codec's fast path for `orders` frames (`push_frame`) against the authoritative reading
(`json.loads`, the frame decoder's `read`, `from_push`): every frame the fast path takes
must give exactly what the authority gives, and the frames OKX sends must take it."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import burst
from simulator.faces.okx import load
from tracker.codec import Invalid, OrderUpdate
from tracker.frames import EXCERPT, NOT_JSON, OrderPush, Unreadable
from tracker.venues.okx.codec import from_push, push_frame
from tracker.venues.okx.frames import decode, read

from .payloads import (
    ARG,
    PUSH_AMENDED,
    PUSH_CANCELED,
    PUSH_CANCELED_PARTLY,
    PUSH_FILLED,
    PUSH_LIVE,
    PUSH_MARKET_BUY,
    PUSH_MMP_CANCELED,
    PUSH_PARTIAL,
)

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PUSHES = [PUSH_LIVE, PUSH_PARTIAL, PUSH_AMENDED, PUSH_FILLED, PUSH_CANCELED_PARTLY,
          PUSH_CANCELED, PUSH_MMP_CANCELED, PUSH_MARKET_BUY]

# Values of every kind for the fields `from_push` reads: OKX's own, odd spellings of
# amounts, ids and times, and JSON types it never sends there.
odd = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
       | st.text(max_size=12) | st.lists(st.integers(), max_size=2)
       | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
amounts = st.sampled_from([
    "0", "1", "0.0", "0.001", "0.0004", "0.0008", "31527.1", "100", "1.5", "",
    "-1", "-0", "1e5", "1E-3", "NaN", "Infinity", " 1", "1.", ".5", "9" * 30, "9" * 31,
    "0." + "1" * 30, "0." + "1" * 31, "\u0661", "0x1"]) | st.from_regex(
    r"-?[0-9]{1,4}(\.[0-9]{0,9})?", fullmatch=True)
times = st.sampled_from([
    "1654084334977", "1262304000000", "1262303999999", "4102444800000", "4102444800001",
    "", "0", "-1", "9" * 16, "9" * 17, "1.5", " 1654084334977", 1654084334977, -1, 0,
    1.0, 1e12, True, 2**64])
ids = st.sampled_from(["452197707845865472", "1", "0", "9" * 30, "9" * 31, "", "-1",
                       "45219770784586547a", " 1", "\u0661", 452197707845865472])
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "instType": st.sampled_from(["SPOT", "MARGIN", "SWAP", "spot", "", None, 1]),
    "instId": st.sampled_from(["BTC-USDT", "ETH-USDT", "btc-usdt", "BTC_USDT", "BTCUSDT",
                               "BTC-USDT-SWAP", "A" * 20 + "-USDT", "A" * 21 + "-USDT",
                               "", "BTC-USDT ", 5, None]),
    "ordId": ids,
    "side": st.sampled_from(["buy", "sell", "BUY", "", None, 1]),
    "state": st.sampled_from(["live", "partially_filled", "filled", "canceled",
                              "mmp_canceled", "LIVE", "open", "", None, 3]),
    "ordType": st.sampled_from(["limit", "market", "post_only", "fok", "ioc",
                                "optimal_limit_ioc", "elp", "LIMIT", "twap", "", None, 7]),
    "tgtCcy": st.sampled_from(["", "quote_ccy", "base_ccy", "QUOTE_CCY", None, 1]),
    "px": amounts, "sz": amounts, "accFillSz": amounts,
    "cTime": times, "uTime": times,
    "clOrdId": st.sampled_from(["", "load1", "e847386590ce4dBC330547db94a08ba0", "a b",
                                "x" * 64, "x" * 65, "é", None, 5, True]),
    "tradeId": st.sampled_from(["", "242589207", "a b", "x" * 64, "x" * 65, None, 5, 1.5]),
}


@st.composite
def elements(draw: st.DrawFn) -> dict[str, Any]:
    """A real element with some of the fields `from_push` reads dropped or changed, and
    fields it does not read added (OKX adds some every year)."""
    element = dict(draw(st.sampled_from(PUSHES)))
    for key in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        match draw(st.integers(0, 5)):
            case 0:
                element.pop(key, None)
            case 1:
                element[key] = draw(odd)
            case _:
                element[key] = draw(FIELDS[key])
    element.update(draw(st.dictionaries(
        st.sampled_from(["lever", "notionalUsd", "linkedAlgoOrd", "attachAlgoOrds", "zz"]),
        odd, max_size=3)))
    return element


@st.composite
def frames(draw: st.DrawFn) -> str:
    """A push of a few elements (now and then not an object), spelled as OKX or another
    encoder might (spacing, non-ASCII as is or escaped), sometimes with another `arg` or
    channel, an `event` beside it, a field said twice, or something more after it."""
    data: list[Any] = [draw(elements()) if draw(st.integers(0, 9)) else draw(odd)
                       for _ in range(draw(st.integers(0, 3)))]
    arg: Any = draw(st.sampled_from([ARG, {"channel": "orders", "instType": "SPOT"},
                                     {"channel": "account"}, {"channel": 5}, {}, "orders"]))
    message: dict[str, Any] = {"arg": arg, "data": data}
    message.update(draw(st.dictionaries(st.sampled_from(["event", "code", "msg", "id"]), odd,
                                        max_size=2)))
    if not draw(st.integers(0, 9)):
        message.pop(draw(st.sampled_from(["arg", "data"])))
    text = json.dumps(message, ensure_ascii=draw(st.booleans()),
                      separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    match draw(st.integers(0, 6)):
        case 0:  # a field the codec reads, said again at the start of the first element
            key = draw(st.sampled_from(sorted(FIELDS)))
            value = draw(FIELDS[key] | odd)
            text = text.replace('"data": [{', '"data":[{').replace(
                '"data":[{', '"data":[{' + json.dumps(key) + ":" + json.dumps(value) + ",", 1)
        case 1:  # the data said twice
            text = text[:-1] + ',"data":' + json.dumps([draw(elements())]) + "}"
        case 2:
            text = text + draw(st.sampled_from([" ", "\n", "x", "}", " {}", "\x00"]))
        case 3:  # an unread field of a value json.loads reads and msgspec may not
            text = text[:-1] + ',"zz":' + draw(st.sampled_from(
                ["NaN", "Infinity", '"\\udc00"', "1" + "0" * 5000, "[" * 2000 + "]" * 2000,
                 "1e999", "01", "[1,]"])) + "}"
        case 4:  # the same inside an element
            text = text.replace('"data": [{', '"data":[{').replace(
                '"data":[{', '"data":[{"zz":' + draw(st.sampled_from(
                    ["NaN", '"\\udc00"', "1" + "0" * 5000, "1e999"])) + ",", 1)
    return text


WANTED = st.sampled_from([None, frozenset({"BTC-USDT"}), frozenset({"ETH-USDT", "LTC-USDT"})])


def exactly(update: OrderUpdate) -> tuple[str, ...]:
    """Every field as its repr: `Decimal("1.0") == Decimal("1")`, but they are stored
    differently, so equal is not enough."""
    return tuple(repr(getattr(update, name)) for name in OrderUpdate.__struct_fields__)


def one_field_changed() -> st.SearchStrategy[str]:
    """A real push of one element with one field `from_push` reads changed: the rest stays
    valid, so that the fast path is offered what that one field makes of it."""
    return st.tuples(st.sampled_from(PUSHES), st.sampled_from(sorted(FIELDS)).flatmap(
        lambda key: st.tuples(st.just(key), FIELDS[key]))).map(
        lambda pair: json.dumps({"arg": ARG, "data": [pair[0] | {pair[1][0]: pair[1][1]}]}))


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
    """The fast path takes the frame only to yield what `read` and `from_push` yield."""
    fast = push_frame(text)
    if fast is None:
        return  # read by json.loads, `read` and `from_push`, as every frame was before
    data = json.loads(text)["data"]  # the elements as the authority read them
    assert len(fast) == len(data)
    for ours, element in zip(fast, data, strict=True):
        try:
            update = from_push(element)
        except Invalid as exc:
            raise AssertionError(f"the fast path took an element from_push refuses: "
                                 f"{exc}") from None
        assert exactly(ours) == exactly(update)
    slow = read(text, wanted)
    assert isinstance(slow, OrderPush), slow
    decoded = decode(text, wanted)  # the frame decoder the stream uses, on either path
    assert isinstance(decoded, OrderPush) and decoded.ignored == slow.ignored
    assert [exactly(u) for u in decoded.data] == [exactly(from_push(e)) for e in slow.data]


@FUZZ
@given(frames(), WANTED)
def test_the_frame_decoder_gives_what_the_authority_gives(
        text: str, wanted: frozenset[str] | None) -> None:
    """Whichever path reads a frame, the stream sees the same frame kind, counts, and
    updates (an element left raw is read by `from_push` in the session)."""
    decoded, slow = decode(text, wanted), read(text, wanted)
    assert type(decoded) is type(slow)
    if isinstance(slow, OrderPush):
        assert isinstance(decoded, OrderPush) and decoded.ignored == slow.ignored
        assert len(decoded.data) == len(slow.data)
        for ours, theirs in zip(decoded.data, slow.data, strict=True):
            if isinstance(ours, OrderUpdate):
                assert exactly(ours) == exactly(from_push(theirs))
            else:
                assert ours == theirs
    else:
        assert decoded == slow


def test_the_pushes_okx_sends_take_the_fast_path() -> None:
    start_ms = int(time.time() * 1000)
    sent = [*(json.dumps({"arg": ARG, "data": [e]}) for e in PUSHES),
            json.dumps({"arg": ARG, "data": PUSHES}),
            *(load.frame(push) for push in burst.burst_pushes(10, 40, "BTC_USDT", start_ms))]
    for text in sent:
        fast = push_frame(text)
        assert fast is not None, text
        data = json.loads(text)["data"]
        assert [exactly(u) for u in fast] == [exactly(from_push(e)) for e in data]
        decoded = decode(text, None)
        assert isinstance(decoded, OrderPush) and decoded.data == fast


def test_a_doubted_element_leaves_the_whole_frame_to_the_authority() -> None:
    """One element the fast path doubts (a float amount, refused by `from_push`) sends the
    whole frame to `json.loads`: the good element still reaches the codec, the bad one is
    refused there, where a person sees why."""
    bad = PUSH_LIVE | {"sz": 0.001}
    text = json.dumps({"arg": ARG, "data": [PUSH_FILLED, bad]})
    assert push_frame(text) is None
    assert decode(text, None) == OrderPush([PUSH_FILLED, bad], 0)


def test_an_integer_too_long_for_json_loads_is_an_unreadable_frame() -> None:
    """Python's `json.loads` refuses integers of more than 4300 digits (a ValueError that
    is not a JSONDecodeError); such a frame is unreadable, not an exception in the stream,
    and the fast path, whose parser would read it, leaves it alone."""
    text = json.dumps({"arg": ARG, "data": [PUSH_LIVE]})[:-1] + ',"zz":1' + "0" * 5000 + "}"
    assert push_frame(text) is None
    assert decode(text, None) == Unreadable(NOT_JSON, text[:EXCERPT])


def test_an_event_is_no_push_whatever_else_it_holds() -> None:
    """The frame decoder reads a message with an `event` as an event: the fast path leaves
    it, even with `arg` and `data` beside it."""
    text = json.dumps({"event": "error", "code": "60012", "msg": "", "arg": ARG,
                       "data": [PUSH_LIVE]})
    assert push_frame(text) is None
    assert not isinstance(decode(text, None), OrderPush)
