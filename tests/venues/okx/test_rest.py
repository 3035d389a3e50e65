"""OKX's REST client against a fake OKX inside httpx (no sockets): what it signs and sends,
how it pages, and how it reads each refusal. The same client against the simulator's OKX
face is in test_face.py; the cursor's paging from written pages in test_cursor.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from tracker.exchange.errors import (
    AuthError,
    BadResponse,
    ClockSkew,
    ExchangeError,
    NotFound,
    RateLimited,
    UnknownSymbol,
)
from tracker.session import decoder
from tracker.venues.okx import protocol as p
from tracker.venues.okx import signing
from tracker.venues.okx.rest import OkxRest
from tracker.venues.okx.venue import Reader

from .payloads import SEED_ROW as REST_ROW

KEY, SECRET, PASSPHRASE = "okx-key", "okx-secret", "okx-pass"
PUBLIC = (p.TIME, p.INSTRUMENTS)
KEEP = decoder(Reader().seed_row, lambda _: None)


def envelope(data: list[Any], code: str = "0", msg: str = "", status: int = 200
             ) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "msg": msg, "data": data})


def row(ord_id: int) -> dict[str, Any]:
    return REST_ROW | {"ordId": str(ord_id)}


class FakeOkx:
    """Checks every signed request as OKX would (the four headers, a timestamp within 30 s,
    the signature over the path and query as sent) and answers with `answers[path]` in
    turn (an empty page when none is left)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[httpx.Response]] = {}
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path not in PUBLIC:
            headers = request.headers
            assert (headers[p.ACCESS_KEY], headers[p.ACCESS_PASSPHRASE]) == (KEY, PASSPHRASE)
            target = request.url.raw_path.decode()
            assert signing.verify(SECRET, signing.rest_prehash(
                headers[p.ACCESS_TIMESTAMP], "GET", target), headers[p.ACCESS_SIGN]), target
        queue = self.answers.get(path)
        return queue.pop(0) if queue else envelope([])

    def params(self, i: int = -1) -> dict[str, str]:
        return dict(parse_qsl(self.requests[i].url.query.decode()))


def client(fake: FakeOkx, symbols: tuple[str, ...] | None = ("BTC-USDT",),
           **kwargs: Any) -> OkxRest:
    rest = OkxRest("https://okx.test", KEY, SECRET, PASSPHRASE, symbols=symbols,
                   **{"retries": 0, **kwargs})
    rest.http = httpx.AsyncClient(base_url="https://okx.test",
                                  transport=httpx.MockTransport(fake.handle))
    return rest


async def test_a_signed_seed_of_one_instrument() -> None:
    fake = FakeOkx()
    fake.answers[p.ORDERS_PENDING] = [envelope([REST_ROW])]
    rest = client(fake)
    seed = await rest.seed("BTC-USDT", keep=KEEP)
    assert [u.order_id for u in seed.rows] == [REST_ROW["ordId"]] and seed.passes == 1
    assert fake.params() == {"instType": "SPOT", "instId": "BTC-USDT", "limit": "100"}
    assert p.SIMULATED_HEADER not in fake.requests[0].headers
    await rest.aclose()


async def test_every_instrument_pages_back_by_the_last_ordid() -> None:
    """Full pages go on with `after` the last ordId read, until a short page; with every
    instrument configured no instId is sent."""
    fake = FakeOkx()
    fake.answers[p.ORDERS_PENDING] = [envelope([row(9), row(8)]), envelope([row(7), row(5)]),
                                      envelope([row(2)])]
    rest = client(fake, symbols=None, page_size=2)
    progress: list[tuple[str, int, int]] = []
    seed = await rest.seed(None, lambda *a: progress.append(a), KEEP)
    assert [u.order_id for u in seed.rows] == ["9", "8", "7", "5", "2"]
    assert [fake.params(i) for i in range(3)] == [
        {"instType": "SPOT", "limit": "2"}, {"instType": "SPOT", "after": "8", "limit": "2"},
        {"instType": "SPOT", "after": "5", "limit": "2"}]
    assert progress[-1] == ("*", 5, 5) and rest.stats["seed_pages"] == 3
    await rest.aclose()


async def test_a_page_that_does_not_move_back_is_refused_not_read_for_ever() -> None:
    fake = FakeOkx()
    fake.answers[p.ORDERS_PENDING] = [envelope([row(9), row(8)]), envelope([row(9), row(8)])]
    rest = client(fake, page_size=2)
    with pytest.raises(BadResponse, match="do not move back"):
        await rest.seed("BTC-USDT", keep=KEEP)
    assert len(fake.requests) == 2
    await rest.aclose()


async def test_the_demo_header() -> None:
    fake = FakeOkx()
    rest = client(fake, demo=True)
    await rest.seed("BTC-USDT")
    await rest.markets(None)
    assert all(r.headers[p.SIMULATED_HEADER] == "1" for r in fake.requests)
    await rest.aclose()


async def test_the_order_detail_by_instrument_and_51603() -> None:
    fake = FakeOkx()
    fake.answers[p.ORDER] = [envelope([REST_ROW]), envelope([], "51603", "Order does not exist.")]
    rest = client(fake)
    assert await rest.order_detail(REST_ROW["ordId"], "BTC-USDT") == REST_ROW
    assert fake.params() == {"instId": "BTC-USDT", "ordId": REST_ROW["ordId"]}
    with pytest.raises(NotFound, match="51603"):
        await rest.order_detail("1", "BTC-USDT")
    with pytest.raises(NotFound, match="not an OKX ordId"):
        await rest.order_detail("BTC-USDT:1", "BTC-USDT")
    assert len(fake.requests) == 2
    await rest.aclose()


async def test_an_order_of_no_known_instrument() -> None:
    """With no row in the book, each configured instrument is asked in turn; with every
    instrument configured, none can be asked."""
    fake = FakeOkx()
    fake.answers[p.ORDER] = [envelope([], "51603"), envelope([REST_ROW]), envelope([], "51603"),
                             envelope([], "51603")]
    rest = client(fake, symbols=("ETH-USDT", "BTC-USDT"))
    assert await rest.order_detail("7", None) == REST_ROW
    assert [fake.params(i)["instId"] for i in range(2)] == ["ETH-USDT", "BTC-USDT"]
    with pytest.raises(NotFound, match="not found in any configured instrument"):
        await rest.order_detail("8", None)
    assert len(fake.requests) == 4
    every = client(fake, symbols=None)
    with pytest.raises(NotFound, match="its instrument is not known"):
        await every.order_detail("9", None)
    assert len(fake.requests) == 4
    await rest.aclose()
    await every.aclose()


@pytest.mark.parametrize(("status", "code"), [(200, "50011"), (429, "50011"), (429, "50013"),
                                              (429, "none")])
async def test_a_rate_refusal_holds_the_call_for_okx_s_window(status: int, code: str) -> None:
    """50011 comes with HTTP 200 or 429 ([OKX] #error-code-rest-api-public)."""
    fake = FakeOkx()
    fake.answers[p.ORDERS_PENDING] = [envelope([], code, "Rate limit reached.", status)]
    rest = client(fake)
    with pytest.raises(RateLimited):
        await rest.seed("BTC-USDT")
    assert rest.pending_pacer._next - time.monotonic() > p.RATE_WINDOW_S - 0.5
    await rest.aclose()


async def test_a_rate_refusal_is_retried() -> None:
    fake = FakeOkx()
    fake.answers[p.ORDERS_PENDING] = [envelope([], "50011", status=429), envelope([REST_ROW])]
    rest = client(fake, retries=1)
    rest.pending_pacer.hold(0)
    started = time.monotonic()
    assert len((await rest.seed("BTC-USDT")).rows) == 1
    assert time.monotonic() - started >= p.RATE_WINDOW_S * 0.9  # held for the window
    await rest.aclose()


async def test_a_clock_refusal_measures_the_clock_again() -> None:
    fake = FakeOkx()
    server_ms = int(time.time() * 1000) + 120_000
    fake.answers[p.ORDERS_PENDING] = [envelope([], "50102", "Timestamp request expired",
                                               401)]
    fake.answers[p.TIME] = [envelope([{"ts": str(server_ms)}])]
    rest = client(fake)
    with pytest.raises(ClockSkew):
        await rest.seed("BTC-USDT")
    await asyncio.sleep(0.1)
    assert abs(rest.skew_ms - 120_000) < 2_000
    await rest.aclose()


@pytest.mark.parametrize("code", ["50101", "50105", "50111", "50113", "50119", "50120"])
async def test_refused_credentials_say_what_to_check(code: str) -> None:
    fake = FakeOkx()
    fake.answers[p.ORDERS_PENDING] = [envelope([], code, "refused", 401)]
    rest = client(fake)
    with pytest.raises(AuthError, match="check api_key, api_secret and passphrase") as refusal:
        await rest.seed("BTC-USDT")
    assert code in str(refusal.value)
    assert SECRET not in str(refusal.value) and PASSPHRASE not in str(refusal.value)
    await rest.aclose()


@pytest.mark.parametrize(("answer", "error"), [
    (envelope([], "50001", "Service temporarily unavailable", 503), ExchangeError),
    (envelope([], "51001", "Instrument ID doesn't exist."), UnknownSymbol),
    (httpx.Response(200, content=b"<html>"), BadResponse),
    (httpx.Response(200, json={"code": "0", "msg": "", "data": {}}), BadResponse),
])
async def test_other_refusals(answer: httpx.Response, error: type[Exception]) -> None:
    fake = FakeOkx()
    fake.answers[p.ORDERS_PENDING] = [answer]
    rest = client(fake)
    with pytest.raises(error) as refusal:
        await rest.seed("BTC-USDT")
    assert type(refusal.value) is error
    await rest.aclose()


async def test_the_server_clock() -> None:
    fake = FakeOkx()
    fake.answers[p.TIME] = [envelope([{"ts": str(int(time.time() * 1000) - 5_000)}]),
                            envelope([{"ts": 1}])]
    rest = client(fake)
    await rest.sync_clock()
    assert abs(rest.skew_ms + 5_000) < 1_000
    with pytest.raises(BadResponse, match="ts is not"):
        await rest.sync_clock()
    await rest.aclose()


def instrument(inst_id: str) -> dict[str, str]:
    base, quote = inst_id.split("-")
    return {"instType": "SPOT", "instId": inst_id, "baseCcy": base, "quoteCcy": quote,
            "state": "live"}


Answer = Callable[[], httpx.Response]


async def test_markets_and_an_instrument_okx_does_not_list() -> None:
    fake = FakeOkx()
    listing = envelope([instrument("BTC-USDT"), instrument("ETH-USDT")])
    fake.answers[p.INSTRUMENTS] = [listing, listing, listing,
                                   envelope([{"instId": "X-Y", "baseCcy": ""}])]
    rest = client(fake)
    assert await rest.markets(["BTC-USDT"]) == {"BTC-USDT": ("BTC", "USDT")}
    assert fake.params() == {"instType": "SPOT"}
    assert await rest.markets(None) == {"BTC-USDT": ("BTC", "USDT"),
                                        "ETH-USDT": ("ETH", "USDT")}
    with pytest.raises(UnknownSymbol, match="'NOPE-USDT' is not a spot instrument OKX lists"):
        await rest.markets(["BTC-USDT", "NOPE-USDT"])
    with pytest.raises(BadResponse, match="malformed"):
        await rest.markets(None)
    await rest.aclose()
