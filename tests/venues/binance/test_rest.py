"""Binance's REST client against a fake Binance inside httpx (no sockets): what it signs
and sends, how it spends the IP's weight, and how it reads each refusal. The same client
against the simulator's Binance face is in test_face.py."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import pytest

from tracker.codec import OrderUpdate
from tracker.exchange.errors import AuthError, ClockSkew, NotFound, RateLimited, UnknownSymbol
from tracker.session import decoder
from tracker.venues.binance import protocol as p
from tracker.venues.binance.codec import from_rest
from tracker.venues.binance.rest import BinanceRest
from tracker.venues.binance.signing import public_pem, signer, verify
from tracker.venues.binance.venue import Reader
from tracker.venues.binance.weights import Weights

from .keys import API_KEY, secret_of
from .payloads import REST_ROW

Handler = Callable[[httpx.Request], httpx.Response]


class FakeBinance:
    """Checks every request as Binance would (key header, recvWindow, timestamp, a
    signature over the query as sent) and answers with `answers[path]` in turn."""

    def __init__(self, kind: str = "hmac", weights: dict[str, int] | None = None) -> None:
        secret = secret_of(kind)
        self.verifying = secret if kind == "hmac" else public_pem(secret)
        self.answers: dict[str, list[httpx.Response]] = {}
        self.requests: list[httpx.Request] = []
        self.used = 0  # weight this minute, as the header says it

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        query = request.url.query.decode()
        if path not in (p.TIME, p.EXCHANGE_INFO):
            payload, _, signature = query.rpartition("&signature=")
            assert request.headers[p.API_KEY_HEADER] == API_KEY
            assert verify(self.verifying, payload, unquote(signature)), query
            params = dict(parse_qsl(payload))
            assert params["recvWindow"] == "5000" and params["timestamp"].isdigit()
        queue = self.answers.get(path)
        answer = queue.pop(0) if queue else httpx.Response(200, json=[])
        answer.headers.setdefault(p.USED_WEIGHT_HEADER, str(self.used))
        return answer

    def params(self, i: int = -1) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(str(self.requests[i].url)).query))


def client(fake: FakeBinance, kind: str = "hmac", symbols: tuple[str, ...] | None = ("LTCBTC",),
           **kwargs: Any) -> BinanceRest:
    rest = BinanceRest("https://api.binance.test", API_KEY, signer(secret_of(kind)),
                       symbols=symbols, **{"retries": 0, **kwargs})
    rest.http = httpx.AsyncClient(base_url="https://api.binance.test",
                                  transport=httpx.MockTransport(fake.handle))
    rest.recheck_s = 0.01
    return rest


def error(status: int, code: int, msg: str = "m", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "msg": msg}, headers=headers)


@pytest.mark.parametrize("kind", ["hmac", "rsa", "ed25519"])
async def test_signed_gets_for_every_key_type(kind: str) -> None:
    fake = FakeBinance(kind)
    fake.answers[p.OPEN_ORDERS] = [httpx.Response(200, json=[REST_ROW])]
    rest = client(fake, kind)
    seed = await rest.seed("LTCBTC")
    assert seed.rows == read([REST_ROW]) and fake.params()["symbol"] == "LTCBTC"
    await rest.aclose()


async def test_a_non_ascii_symbol_is_percent_encoded_before_signing() -> None:
    """Required since 2026-01-15 ([BN] CHANGELOG 2025-12-17): the fake verifies the
    signature over the query exactly as sent."""
    fake = FakeBinance()
    rest = client(fake, symbols=("这是测试币456",))
    await rest.seed("这是测试币456")
    raw = fake.requests[0].url.query.decode()
    assert raw.startswith("symbol=%E8%BF%99%E6%98%AF")
    assert fake.params()["symbol"] == "这是测试币456"
    await rest.aclose()


async def test_thirteen_symbols_are_read_one_by_one() -> None:
    fake = FakeBinance()
    symbols = tuple(f"S{i}USDT" for i in range(13))  # 13 x 6 = 78 <= 80
    rest = client(fake, symbols=symbols)
    for symbol in symbols:
        await rest.seed(symbol)
    assert [fake.params(i)["symbol"] for i in range(13)] == list(symbols)
    await rest.aclose()


async def test_the_next_symbol_is_read_while_one_is_kept() -> None:
    """Each symbol's answer is asked for as the one before it is handed out, in the order
    configured; a seed begun again at the first symbol drops a read begun before it, so
    every row it hands out was read after it began. The nth request answers orderId n."""
    fake = FakeBinance()
    fake.answers[p.OPEN_ORDERS] = [httpx.Response(200, json=[REST_ROW | {"orderId": n}])
                                   for n in range(10)]
    symbols = ("LTCBTC", "ETHBTC", "BNBBTC")
    rest = client(fake, symbols=symbols)

    async def seed(symbol: str) -> int:
        """The request that read the symbol's rows, checked to be a read of that symbol."""
        rows = (await rest.seed(symbol)).rows
        await asyncio.sleep(0.01)  # the read begun ahead is answered meanwhile
        n = int(rows[0].order_id.split(":")[1])
        assert fake.params(n)["symbol"] == symbol
        return n

    await seed("LTCBTC")
    assert {fake.params(i)["symbol"] for i in range(2)} == {"LTCBTC", "ETHBTC"}
    await seed("ETHBTC")  # read ahead, while LTCBTC's rows were kept
    assert fake.params()["symbol"] == "BNBBTC" and len(fake.requests) == 3
    # cut short, and begun again at the first symbol: BNBBTC's read is dropped
    assert min(await seed("LTCBTC"), await seed("ETHBTC"), await seed("BNBBTC")) >= 3
    assert len(fake.requests) == 6
    await rest.aclose()


async def test_fourteen_symbols_are_read_at_once_and_shared() -> None:
    """14 x 6 = 84 > 80: the first symbol read alone (6), then one read of every symbol
    (80) serves the rest of the seed."""
    fake = FakeBinance()
    symbols = tuple(f"S{i}USDT" for i in range(14))
    rows = [REST_ROW | {"symbol": s, "orderId": i} for i, s in enumerate(symbols)]
    other = REST_ROW | {"symbol": "BNBUSDT"}
    fake.answers[p.OPEN_ORDERS] = [httpx.Response(200, json=[rows[0]]),
                                   httpx.Response(200, json=[*rows, other, "junk"])] * 2
    rest = client(fake, symbols=symbols)
    seeds = [await rest.seed(s, keep=lambda r: r) for s in symbols]
    assert len(fake.requests) == 2 and fake.params(0)["symbol"] == "S0USDT"
    assert "symbol" not in fake.params(1)
    assert seeds[0].rows == [*read(rows[:1]), "junk"]  # the unreadable row goes to the codec
    assert [s.rows for s in seeds[1:]] == [[r] for r in rows[1:]]
    assert rest.stats["seed_rows_other_symbols"] == 1
    await rest.seed(symbols[0])  # the next seed reads again
    assert len(fake.requests) == 4
    await rest.aclose()


async def test_a_first_symbol_too_large_to_read_all_at_once_reads_each_alone() -> None:
    """The first symbol's answer, times the symbols, is past `rest_max_bytes`: one answer
    for every symbol is never asked for (Binance would build all of it to have it
    refused), and each symbol is read alone, the next begun as one is kept."""
    fake = FakeBinance()
    symbols = tuple(f"S{i}USDT" for i in range(14))
    big = [REST_ROW | {"symbol": "S0USDT", "orderId": i} for i in range(40)]
    fake.answers[p.OPEN_ORDERS] = [httpx.Response(200, json=big)]
    rest = client(fake, symbols=symbols, max_bytes=len(json.dumps(big)) * 10)
    seeds = [await rest.seed(s) for s in symbols]
    assert len(seeds[0].rows) == 40 and all(not s.rows for s in seeds[1:])
    assert [fake.params(i)["symbol"] for i in range(14)] == list(symbols)
    assert rest.stats["seed_per_symbol"] == 1 and rest.stats["errors_too_large"] == 0
    await rest.aclose()


def read(rows: list[Any]) -> list[OrderUpdate]:
    """Rows as the codec reads them: what the seed hands `keep` when the answer's rows all
    take the codec's fast path."""
    return [from_rest(r, "seed") for r in rows]


async def test_an_answer_with_one_odd_row_is_read_row_by_row() -> None:
    """The fast path takes a whole answer or none of it: one row it doubts leaves every
    row raw for the codec, which refuses that row with its reason and reads the others."""
    fake = FakeBinance()
    odd = REST_ROW | {"orderId": 2, "price": 0.1}  # a float: refused, never guessed at
    fake.answers[p.OPEN_ORDERS] = [httpx.Response(200, json=[REST_ROW, odd])]
    rest = client(fake)
    seed = await rest.seed("LTCBTC", keep=decoder(Reader().seed_row, lambda _: None))
    assert seed.rows[0] == from_rest(REST_ROW, "seed")
    assert seed.rows[1][0] == "price must be a decimal string, not float"
    await rest.aclose()


async def test_every_symbol_is_one_read() -> None:
    fake = FakeBinance()
    rest = client(fake, symbols=None)
    fake.answers[p.OPEN_ORDERS] = [httpx.Response(200, json=[REST_ROW])]
    progress: list[tuple[str, int, int]] = []
    seed = await rest.seed(None, lambda *a: progress.append(a))
    assert seed.rows == read([REST_ROW]) and "symbol" not in fake.params()
    assert progress == [("*", 1, 1)]
    await rest.aclose()


class FakeTime:
    """A clock the weights wait on, moved only by their sleeps."""

    def __init__(self, ms: int = 1_767_225_600_000 + 30_000) -> None:
        self.ms = ms
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.ms / 1000

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.ms += int(seconds * 1000)
        await asyncio.sleep(0)


def weights(budget: int, time: FakeTime, stats: Counter[str] | None = None) -> Weights:
    return Weights(budget, lambda: time.ms, Counter() if stats is None else stats,
                   clock=time.clock, sleep=time.sleep)


async def test_the_budget_is_never_passed_within_a_minute() -> None:
    """A server that counts weight per minute as Binance does: however many seeds in a
    row, the tracker waits for the next minute instead of drawing a 429."""
    time = FakeTime()
    fake = FakeBinance()
    minute_used: Counter[int] = Counter()

    def counting(request: httpx.Request) -> httpx.Response:
        minute = time.ms // 60_000
        minute_used[minute] += p.OPEN_ORDERS_WEIGHT_ALL
        fake.used = minute_used[minute] + 100  # another program on the IP spends 100
        if fake.used > 1000:
            return error(429, p.TOO_MANY_REQUESTS)
        return fake.handle(request)

    rest = client(fake, symbols=None)
    rest.http = httpx.AsyncClient(base_url="https://x.test",
                                  transport=httpx.MockTransport(counting))
    rest.weights = weights(1000, time, rest.stats)
    for _ in range(40):
        await rest.seed(None)
    assert max(minute_used.values()) <= 900 and len(minute_used) >= 4
    assert rest.stats["weight_waits"] >= 3 and not rest.stats["errors_http_429"]
    await rest.aclose()


async def test_a_429_is_waited_out_for_its_retry_after() -> None:
    time = FakeTime()
    fake = FakeBinance()
    fake.answers[p.OPEN_ORDERS] = [error(429, p.TOO_MANY_REQUESTS, **{"Retry-After": "7"})]
    rest = client(fake)
    rest.weights = weights(5400, time)
    with pytest.raises(RateLimited):
        await rest.seed("LTCBTC")
    await rest.seed("LTCBTC")
    assert time.slept == [7.0] and len(fake.requests) == 2
    await rest.aclose()


async def test_a_ban_stops_every_call_until_it_ends() -> None:
    time = FakeTime()
    fake = FakeBinance()
    fake.answers[p.OPEN_ORDERS] = [error(418, p.TOO_MANY_REQUESTS, "Way too much request "
                                         "weight used; IP banned", **{"Retry-After": "600"})]
    rest = client(fake)
    rest.weights = weights(5400, time)
    with pytest.raises(RateLimited):
        await rest.seed("LTCBTC")
    for call in (rest.seed("LTCBTC"), rest.order_detail("LTCBTC:1"), rest.sync_clock()):
        with pytest.raises(RateLimited, match="banned this IP"):
            await call
    assert len(fake.requests) == 1  # nothing reached Binance during the ban
    time.ms += 601_000
    await rest.seed("LTCBTC")
    assert len(fake.requests) == 2
    await rest.aclose()


async def test_a_clock_refusal_measures_the_clock_again() -> None:
    fake = FakeBinance()
    fake.answers[p.OPEN_ORDERS] = [error(400, p.INVALID_TIMESTAMP, "Timestamp for this "
                                         "request is outside of the recvWindow.")]
    server = 1_767_225_600_000
    fake.answers[p.TIME] = [httpx.Response(200, json={"serverTime": server})]
    rest = client(fake)
    with pytest.raises(ClockSkew):
        await rest.seed("LTCBTC")
    for _ in range(10):
        await asyncio.sleep(0)
    assert fake.requests[-1].url.path == p.TIME and rest.skew_ms < -1_000_000
    await rest.aclose()


@pytest.mark.parametrize(("code", "hint"), [(-2015, "Enable Reading"), (-1022, "key_type")])
async def test_refused_credentials_say_what_to_check(code: int, hint: str) -> None:
    fake = FakeBinance()
    fake.answers[p.OPEN_ORDERS] = [error(401 if code == -2015 else 400, code)]
    rest = client(fake, retries=3)
    with pytest.raises(AuthError, match=hint):
        await rest.seed("LTCBTC")
    assert len(fake.requests) == 1  # not retried
    await rest.aclose()


async def test_a_new_orders_not_found_is_asked_again() -> None:
    fake = FakeBinance()
    fake.answers[p.ORDER] = [error(400, p.NO_SUCH_ORDER, "Order does not exist."),
                             httpx.Response(200, json=REST_ROW)]
    rest = client(fake)
    assert await rest.order_detail("LTCBTC:1") == REST_ROW
    assert [fake.params(i)["orderId"] for i in (0, 1)] == ["1", "1"]
    assert fake.params()["symbol"] == "LTCBTC" and rest.stats["detail_rechecks"] == 1
    await rest.aclose()


async def test_not_found_twice_is_not_found() -> None:
    fake = FakeBinance()
    fake.answers[p.ORDER] = [error(400, p.NO_SUCH_ORDER)] * 2
    rest = client(fake)
    with pytest.raises(NotFound):
        await rest.order_detail("LTCBTC:1")
    assert len(fake.requests) == 2
    await rest.aclose()


async def test_archived_is_not_found_at_once() -> None:
    fake = FakeBinance()
    fake.answers[p.ORDER] = [error(400, p.ARCHIVED, "Order was canceled or expired with no "
                                   "executed qty over 90 days ago and has been archived.")]
    rest = client(fake)
    with pytest.raises(NotFound, match="archived"):
        await rest.order_detail("LTCBTC:1")
    assert len(fake.requests) == 1
    with pytest.raises(NotFound):
        await rest.order_detail("not-an-id")
    await rest.aclose()


async def test_markets_and_the_unknown_symbol_named() -> None:
    fake = FakeBinance()
    listed = {"BTCUSDT": ("BTC", "USDT"), "ETHBTC": ("ETH", "BTC"), "X": ("Y", "Z")}

    def info(request: httpx.Request) -> httpx.Response:
        fake.requests.append(request)
        asked = json.loads(dict(parse_qsl(request.url.query.decode()))["symbols"])
        if any(s not in listed for s in asked):
            return error(400, p.BAD_SYMBOL, "Invalid symbol.")
        return httpx.Response(200, json={"symbols": [
            {"symbol": s, "baseAsset": listed[s][0], "quoteAsset": listed[s][1],
             "status": "TRADING"} for s in asked]})

    rest = client(fake)
    rest.http = httpx.AsyncClient(base_url="https://x.test", transport=httpx.MockTransport(info))
    assert await rest.markets(["BTCUSDT", "ETHBTC"]) == {"BTCUSDT": ("BTC", "USDT"),
                                                        "ETHBTC": ("ETH", "BTC")}
    with pytest.raises(UnknownSymbol, match="'NOPE' is not a symbol Binance lists"):
        await rest.markets(["BTCUSDT", "ETHBTC", "NOPE", "X"])
    await rest.aclose()


async def test_sync_clock() -> None:
    fake = FakeBinance()
    fake.answers[p.TIME] = [httpx.Response(200, json={"serverTime": 4_000_000_000_000})]
    rest = client(fake)
    await rest.sync_clock()
    assert rest.skew_ms > 1_000_000 and int(rest.timestamp()) > 3_999_999_000_000
    await rest.aclose()


async def test_a_read_of_every_symbol_too_large_falls_back_to_one_symbol_at_a_time() -> None:
    """Binance has no pages: an answer for every symbol past `rest_max_bytes` is not asked
    again (each try costs 80 and the whole answer), and the seed reads one symbol at a
    time, then and from now on."""
    fake = FakeBinance()
    symbols = tuple(f"S{i}USDT" for i in range(14))
    rows = [REST_ROW | {"symbol": s, "orderId": i} for i, s in enumerate(symbols)]
    fake.answers[p.OPEN_ORDERS] = [httpx.Response(200, json=rows[:1]),
                                   httpx.Response(200, json=rows * 50),
                                   *(httpx.Response(200, json=[r]) for r in rows[1:] * 2)]
    rest = client(fake, symbols=symbols, retries=3, max_bytes=len(json.dumps(rows)) * 10)
    seeds = [await rest.seed(s, keep=lambda r: r) for s in symbols]
    assert [s.rows for s in seeds] == [read([r]) for r in rows]
    assert fake.params(0)["symbol"] == symbols[0] and "symbol" not in fake.params(1)
    assert [fake.params(i)["symbol"] for i in range(2, 15)] == list(symbols[1:])
    assert rest.stats["seed_per_symbol"] == 1 and rest.stats["errors_too_large"] == 1
    await rest.seed(symbols[0])  # the next seed too
    assert fake.params()["symbol"] == symbols[0] and len(fake.requests) == 16
    await rest.aclose()
