"""OKX's REST face over real sockets: the envelope and the rows, orders-pending's ordId
cursors (and pages that shift while orders change), the order detail (51603, and the
unfilled cancels it forgets), place, amend and cancel, the signature and clock checks, the
rate limit of the order reads, and the REST faults reaching it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from simulator.app import Running
from simulator.faces.okx.rest import BATCH_ORDERS as BATCH
from simulator.faces.okx.rest import CURRENCIES
from simulator.state import Account, Settings
from tests.conftest import place, set_faults
from tests.simulator import shared
from tests.simulator.okx_client import ACCOUNTS, MAIN, OTHER, Rest, now_ms, ok, refused
from tests.simulator.shared import with_settings
from tracker.venues.okx import protocol


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    return shared.settings(request, accounts=ACCOUNTS)


@pytest.fixture
async def okx(sim: Running) -> Any:
    client = Rest(sim, MAIN)
    yield client
    await client.aclose()


async def pending(okx: Rest, **params: Any) -> list[dict[str, Any]]:
    return ok(await okx.get(protocol.ORDERS_PENDING, instType="SPOT", **params))


async def test_pending_orders_are_okx_rows_newest_first(okx: Rest,
                                                        control: httpx.AsyncClient) -> None:
    first = await place(control, price="50000.5", size="0.1", client_order_id="mine1")
    second = await place(control, symbol="ETH_USDT", side="sell", price="3000", size="2")
    response = await okx.get(protocol.ORDERS_PENDING, instType="SPOT")
    assert response.json()["code"] == "0" and response.json()["msg"] == ""
    rows = ok(response)
    assert [r["ordId"] for r in rows] == [second["orderId"], first["orderId"]]
    row = rows[1]
    assert {"instType": "SPOT", "instId": "BTC-USDT", "ordId": first["orderId"],
            "clOrdId": "mine1", "px": "50000.5", "sz": "0.1", "ordType": "limit",
            "side": "buy", "tdMode": "cash", "accFillSz": "0", "fillSz": "0", "fillPx": "",
            "fillTime": "", "tradeId": "", "avgPx": "", "state": "live",
            "cTime": str(first["createTime"]), "uTime": str(first["updateTime"]),
            "fee": "0", "feeCcy": "USDT", "rebate": "0", "category": "normal",
            "cancelSource": "", "tradeQuoteCcy": "USDT", "reduceOnly": "false",
            "posSide": "net", "stpMode": "cancel_maker", "tag": ""}.items() <= row.items()
    assert all(isinstance(v, str) for k, v in row.items()
               if k not in ("attachAlgoOrds", "linkedAlgoOrd"))
    assert [r["ordId"] for r in await pending(okx, instId="ETH-USDT")] == [second["orderId"]]
    assert await pending(okx, state="partially_filled") == []
    assert ok(await okx.get(protocol.ORDERS_PENDING, instType="SWAP")) == []
    refused(await okx.get(protocol.ORDERS_PENDING, instType="SPOT", instId="NOPE-USDT"), 200,
            protocol.INSTRUMENT_UNKNOWN)
    for bad in ({"limit": "101"}, {"limit": "0"}, {"after": "x1"}, {"instType": "CASH"}):
        refused(await okx.get(protocol.ORDERS_PENDING, **({"instType": "SPOT"} | bad)), 400,
                "51000")


async def test_after_and_before_page_by_ord_id(okx: Rest, control: httpx.AsyncClient) -> None:
    ids = [(await place(control))["orderId"] for _ in range(7)]
    newest_first = ids[::-1]
    pages, after = [], None
    while True:
        page = await pending(okx, limit=3, **({"after": after} if after else {}))
        pages.append([r["ordId"] for r in page])
        if len(page) < 3:
            break
        after = page[-1]["ordId"]
    assert pages == [newest_first[0:3], newest_first[3:6], newest_first[6:7]]
    # `before`: the orders newer than that one, the nearest `limit` of them, newest first.
    assert [r["ordId"] for r in await pending(okx, before=ids[1], limit=2)] == [ids[3], ids[2]]
    assert [r["ordId"] for r in await pending(okx, before=ids[1], after=ids[5])] == [
        ids[4], ids[3], ids[2]]
    assert await pending(okx, before=ids[-1]) == []


@with_settings(open_orders_per_symbol=0)
async def test_pages_shift_while_orders_change(okx: Rest, sim: Running,
                                               control: httpx.AsyncClient) -> None:
    """Between two page reads orders close and open (`page_shift`, and a placement): the
    ordId cursor never repeats an order nor skips one open throughout; the new ones are
    newer than any cursor, so only the stream can tell of them, as on OKX."""
    before = [(await place(control))["orderId"] for _ in range(12)]
    await set_faults(control, page_shift=2)
    seen: list[str] = []
    after = None
    while True:
        page = await pending(okx, instId="BTC-USDT", limit=4,
                             **({"after": after} if after else {}))
        seen += [r["ordId"] for r in page]
        await place(control)  # an order placed by the user between two reads
        if len(page) < 4:
            break
        after = page[-1]["ordId"]
    assert len(seen) == len(set(seen))
    truth = (await control.get("/truth")).json()["orders"]
    still_open = {r["orderId"] for r in truth if r["state"] in ("new", "partially_filled")}
    closed = set(before) - still_open
    assert closed, "page_shift closed none"
    assert set(before) & still_open <= set(seen)  # open throughout: every one was read
    opened = still_open - set(before)
    assert opened and not opened & set(seen)  # opened during the pages: never on one
    assert sim.sim.injected["page_shift"] >= 3


async def test_the_order_detail_and_51603(okx: Rest, sim: Running,
                                          control: httpx.AsyncClient) -> None:
    order = await place(control, price="50000", size="0.1", client_order_id="q1")
    by_id = ok(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=order["orderId"]))
    by_client = ok(await okx.get(protocol.ORDER, instId="BTC-USDT", clOrdId="q1"))
    assert by_id == by_client and by_id[0]["state"] == "live"
    await control.post(f"/orders/{order['orderId']}/fill", json={"size": "0.04"})
    [partial] = ok(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=order["orderId"]))
    assert (partial["state"], partial["accFillSz"], partial["fillSz"], partial["fillPx"],
            partial["avgPx"], partial["fee"]) == ("partially_filled", "0.04", "0.04", "50000",
                                                  "50000", "-2")
    await control.post(f"/orders/{order['orderId']}/cancel")
    [ended] = ok(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=order["orderId"]))
    assert (ended["state"], ended["accFillSz"], ended["cancelSource"]) == (
        "canceled", "0.04", "1")
    refused(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId="1"), 200,
            protocol.ORDER_NOT_FOUND)
    refused(await okx.get(protocol.ORDER, instId="ETH-USDT", ordId=order["orderId"]), 200,
            protocol.ORDER_NOT_FOUND)
    refused(await okx.get(protocol.ORDER, instId="BTC-USDT"), 200, protocol.ID_REQUIRED)
    refused(await okx.get(protocol.ORDER, ordId=order["orderId"]), 400, "50014")
    # Another account's order is as unknown as one that never was.
    theirs = await place(control, account="other")
    refused(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=theirs["orderId"]), 200,
            protocol.ORDER_NOT_FOUND)
    await set_faults(control, rest_lag_ms=5000)
    fresh = await place(control)
    refused(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=fresh["orderId"]), 200,
            protocol.ORDER_NOT_FOUND)


@with_settings(okx_cancel_retention_s=0.3)
async def test_an_unfilled_cancel_is_forgotten_after_the_retention(
        okx: Rest, control: httpx.AsyncClient) -> None:
    unfilled, filled = await place(control), await place(control)
    await control.post(f"/orders/{filled['orderId']}/fill", json={"size": "0.05"})
    for order in (unfilled, filled):
        await control.post(f"/orders/{order['orderId']}/cancel")
    [seen] = ok(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=unfilled["orderId"]))
    assert (seen["state"], seen["accFillSz"]) == ("canceled", "0")
    await asyncio.sleep(0.4)
    refused(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=unfilled["orderId"]), 200,
            protocol.ORDER_NOT_FOUND)
    [kept] = ok(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=filled["orderId"]))
    assert kept["accFillSz"] == "0.05"  # a cancel with fills is kept


async def test_signatures_headers_and_the_clock_are_checked(okx: Rest, sim: Running,
                                                            control: httpx.AsyncClient) -> None:
    await place(control)
    path = f"{protocol.ORDERS_PENDING}?instType=SPOT"
    http = okx.http

    async def call(**headers: Any) -> httpx.Response:
        return await http.get(path, headers=headers)

    good = okx.headers("GET", path)
    assert len(ok(await call(**good))) == 1
    for flag in (protocol.LIVE_FLAG, protocol.DEMO_FLAG):
        ok(await call(**good, **{protocol.SIMULATED_HEADER: flag}))
    refused(await call(**good, **{protocol.SIMULATED_HEADER: "2"}), 401,
            protocol.KEY_ENVIRONMENT)
    for header, code in ((protocol.ACCESS_KEY, "50103"), (protocol.ACCESS_PASSPHRASE, "50104"),
                         (protocol.ACCESS_SIGN, "50106"), (protocol.ACCESS_TIMESTAMP, "50107")):
        refused(await call(**{k: v for k, v in good.items() if k != header}), 401, code)
    refused(await call(**good | {protocol.ACCESS_KEY: "nobody"}), 401, "50111")
    refused(await http.get(path, headers=okx.headers("GET", path, passphrase="wrong")), 401,
            "50105")
    refused(await call(**good | {protocol.ACCESS_TIMESTAMP: "1607418537715"}), 401, "50112")
    # Signed over another path, another account's secret, or a changed query: refused.
    refused(await http.get(path + "&limit=5", headers=good), 401, protocol.INVALID_SIGNATURE)
    refused(await http.get(path, headers=okx.headers("GET", protocol.ORDERS_PENDING)), 401,
            protocol.INVALID_SIGNATURE)
    other = Rest(sim, Account(MAIN.api_key, OTHER.secret, "", passphrase=MAIN.passphrase))
    try:
        refused(await other.get(protocol.ORDERS_PENDING, instType="SPOT"), 401,
                protocol.INVALID_SIGNATURE)
    finally:
        await other.aclose()
    # The clock: 30 s either way, against the server's clock (`clock_skew_ms` moves it).
    ok(await http.get(path, headers=okx.headers("GET", path, skew_ms=-25_000)))
    refused(await http.get(path, headers=okx.headers("GET", path, skew_ms=-31_000)), 401,
            protocol.TIMESTAMP_EXPIRED)
    refused(await http.get(path, headers=okx.headers("GET", path, skew_ms=31_000)), 401,
            protocol.TIMESTAMP_EXPIRED)
    await set_faults(control, clock_skew_ms=40_000)
    refused(await http.get(path, headers=okx.headers("GET", path)), 401,
            protocol.TIMESTAMP_EXPIRED)
    ok(await http.get(path, headers=okx.headers("GET", path, skew_ms=40_000)))


async def test_the_order_reads_are_limited_to_60_in_2_seconds(
        okx: Rest, sim: Running, control: httpx.AsyncClient) -> None:
    order = await place(control)
    answers = await asyncio.gather(*(okx.get(protocol.ORDERS_PENDING, instType="SPOT")
                                     for _ in range(protocol.ORDERS_PENDING_RATE)))
    assert all(a.status_code == 200 for a in answers)
    refused(await okx.get(protocol.ORDERS_PENDING, instType="SPOT"), 429, protocol.RATE_LIMITED)
    # Per user: the other account still reads; the detail has its own count, per instrument.
    other = Rest(sim, OTHER)
    try:
        ok(await other.get(protocol.ORDERS_PENDING, instType="SPOT"))
    finally:
        await other.aclose()
    for _ in range(protocol.ORDER_RATE):
        ok(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=order["orderId"]))
    refused(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=order["orderId"]), 429,
            protocol.RATE_LIMITED)
    refused(await okx.get(protocol.ORDER, instId="ETH-USDT", ordId="1"), 200,
            protocol.ORDER_NOT_FOUND)
    await asyncio.sleep(protocol.RATE_WINDOW_S)
    ok(await okx.get(protocol.ORDERS_PENDING, instType="SPOT"))


async def test_place_amend_and_cancel(okx: Rest, control: httpx.AsyncClient) -> None:
    placed = await okx.post(protocol.ORDER, instId="BTC-USDT", tdMode="cash", side="buy",
                            ordType="limit", px="50000", sz="0.2", clOrdId="mine")
    [answer] = ok(placed)
    assert {"clOrdId": "mine", "sCode": "0", "sMsg": "Order placed", "tag": ""}.items() \
        <= answer.items()
    assert placed.json()["inTime"].isdigit()
    ord_id = answer["ordId"]
    [amended] = ok(await okx.post(protocol.AMEND_ORDER, instId="BTC-USDT", ordId=ord_id,
                                  newSz="0.5", newPx="49000.5", reqId="r1"))
    assert (amended["ordId"], amended["reqId"], amended["sCode"]) == (ord_id, "r1", "0")
    [row] = ok(await okx.get(protocol.ORDER, instId="BTC-USDT", clOrdId="mine"))
    assert (row["sz"], row["px"], row["ordId"]) == ("0.5", "49000.5", ord_id)
    await control.post(f"/orders/{ord_id}/fill", json={"size": "0.1"}, params={"account": "main"})
    failed = (await okx.post(protocol.AMEND_ORDER, instId="BTC-USDT", ordId=ord_id,
                             newSz="0.1")).json()
    assert failed["code"] == "1" and failed["data"][0]["sCode"] == "51000", failed
    duplicate = (await okx.post(protocol.ORDER, instId="BTC-USDT", tdMode="cash", side="sell",
                                ordType="limit", px="60000", sz="1", clOrdId="mine")).json()
    assert duplicate["data"][0]["sCode"] == "51016"
    [cancelled] = ok(await okx.post(protocol.CANCEL_ORDER, instId="BTC-USDT", clOrdId="mine"))
    assert (cancelled["ordId"], cancelled["sCode"]) == (ord_id, "0")
    for path, code in ((protocol.CANCEL_ORDER, "51400"), (protocol.AMEND_ORDER, "51503")):
        again = (await okx.post(path, instId="BTC-USDT", ordId=ord_id, newSz="1")).json()
        assert again["code"] == "1" and again["data"][0]["sCode"] == code, again
    # Market orders: a buy is sized in the quote currency, a sell in the base.
    [buy] = ok(await okx.post(protocol.ORDER, instId="BTC-USDT", tdMode="cash", side="buy",
                              ordType="market", sz="600"))
    [row] = ok(await okx.get(protocol.ORDER, instId="BTC-USDT", ordId=buy["ordId"]))
    assert (row["ordType"], row["sz"], row["tgtCcy"], row["px"]) == (
        "market", "600", "quote_ccy", "")
    [sell] = ok(await okx.post(protocol.ORDER, instId="ETH-USDT", tdMode="cash", side="sell",
                               ordType="market", sz="1.5"))
    [row] = ok(await okx.get(protocol.ORDER, instId="ETH-USDT", ordId=sell["ordId"]))
    assert (row["state"], row["accFillSz"]) == ("filled", "1.5")
    for bad in ({"tdMode": "cross"}, {"side": "up"}, {"sz": "-1"}, {"ordType": "fok"}):
        body = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
                "px": "1", "sz": "1"} | bad
        answer_ = (await okx.post(protocol.ORDER, **body)).json()
        assert answer_["code"] == "1" and answer_["data"][0]["sCode"] == "51000", answer_
    refused(await okx.http.post(protocol.ORDER, content="{",
                                headers=okx.headers("POST", protocol.ORDER, "{")), 400, "50002")


async def test_time_and_instruments_are_public(sim: Running) -> None:
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        [stamp] = ok(await http.get(protocol.TIME))
        assert abs(int(stamp["ts"]) - now_ms()) < 5000
        rows = ok(await http.get(protocol.INSTRUMENTS, params={"instType": "SPOT"}))
        assert [(r["instId"], r["baseCcy"], r["quoteCcy"]) for r in rows] == [
            ("BMX-ETH", "BMX", "ETH"), ("BTC-USDT", "BTC", "USDT"), ("ETH-USDT", "ETH", "USDT")]
        btc = rows[1]
        assert (btc["tickSz"], btc["lotSz"], btc["state"]) == ("0.01", "0.00001", "live")
        one = ok(await http.get(protocol.INSTRUMENTS, params={"instType": "SPOT",
                                                              "instId": "ETH-USDT"}))
        assert [r["instId"] for r in one] == ["ETH-USDT"]
        assert ok(await http.get(protocol.INSTRUMENTS, params={"instType": "SWAP"})) == []
        refused(await http.get(protocol.INSTRUMENTS), 400, "50014")


async def test_the_rest_faults_reach_it(okx: Rest, control: httpx.AsyncClient) -> None:
    await set_faults(control, rest_429=1.0)
    refused(await okx.get(protocol.ORDERS_PENDING, instType="SPOT"), 429, protocol.RATE_LIMITED)
    await set_faults(control, rest_429=0.0, rest_5xx=1.0)
    refused(await okx.get(protocol.ORDERS_PENDING, instType="SPOT"), 503,
            protocol.SERVICE_UNAVAILABLE)


async def test_batch_orders_and_currencies_as_ccxt_asks_them(okx: Rest) -> None:
    limit = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
             "px": "40000", "sz": "0.01"}
    both = await okx.http.post(BATCH, content=json.dumps([limit, limit]),
                               headers=okx.headers("POST", BATCH, json.dumps([limit, limit])))
    rows = ok(both)
    assert [r["sCode"] for r in rows] == ["0", "0"] and rows[0]["ordId"] != rows[1]["ordId"]
    mixed = [limit, limit | {"side": "up"}]
    partly = (await okx.http.post(BATCH, content=json.dumps(mixed),
                                  headers=okx.headers("POST", BATCH, json.dumps(mixed)))).json()
    assert partly["code"] == "2" and [r["sCode"] for r in partly["data"]] == ["0", "51000"]
    assert len(await pending(okx)) == 3
    refused(await okx.post(BATCH, **limit), 400, "50002")  # an object, not a list
    currencies = ok(await okx.get(CURRENCIES))
    assert {c["ccy"] for c in currencies} == {"BTC", "ETH", "USDT", "BMX"}
