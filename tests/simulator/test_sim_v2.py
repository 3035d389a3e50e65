"""The v2 REST face over real sockets (protocol notes §1)."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from simulator.app import Running
from simulator.state import Settings
from tests.conftest import place
from tests.simclient import V2, now_ms
from tracker.venues.bitmart.protocol import SIGNATURE_HEADER


@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, open_orders_per_symbol=0)


@pytest.mark.parametrize(("settings", "padded"), [
    (Settings(port=0, amounts="minimal"), False), (Settings(port=0, amounts="padded"), True)],
    ids=["minimal", "padded"])
async def test_token_then_list(v2: V2, control: httpx.AsyncClient, padded: bool) -> None:
    response = await v2.authenticate()
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 900 and isinstance(body["access_token"], str)
    await place(control, price="50000", size="0.25")
    listing = await v2.orders("BTC_USDT")
    assert listing.status_code == 200
    page = listing.json()
    assert set(page) == {"orders", "total_pages", "total_orders", "current_page"}
    (row,) = page["orders"]
    # Types exactly as the documented example: numbers for id, time, status and counts.
    assert isinstance(row["entrust_id"], int) and isinstance(row["timestamp"], int)
    assert row["status"] == 1 and row["side"] == "buy" and row["symbol"] == "BTC_USDT"
    if padded:  # as in BitMart's documentation
        assert row["price"] == "50000.00" and row["original_amount"] == "0.25000"
        assert row["executed_amount"] == "0.00000" and row["remaining_amount"] == "0.25000"
    else:  # as the live exchange writes them
        assert row["price"] == "50000" and row["original_amount"] == "0.25"
        assert row["executed_amount"] == "0" and row["remaining_amount"] == "0.25"
    assert isinstance(row["fees"], str)
    assert (page["total_pages"], page["total_orders"], page["current_page"]) == (1, 1, 0)


@pytest.mark.parametrize(("form", "status", "message"), [
    ({"grant_type": "password"}, 400, "grant_type"),
    ({"client_id": "someone-else"}, 401, "client_id"),
    ({"client_secret": "00" * 32}, 401, "client_secret"),
])
async def test_token_refusals(v2: V2, form: dict[str, str], status: int, message: str) -> None:
    from tracker.venues.bitmart import signing

    a = v2.account
    good = {"grant_type": "client_credentials", "client_id": a.api_key,
            "client_secret": signing.v2_client_secret(a.api_key, a.secret, a.memo)}
    response = await v2.http.post("/v2/authentication", data=good | form)
    assert response.status_code == status
    assert message in response.json()["message"]


async def test_five_tokens_a_minute(v2: V2) -> None:
    statuses = [(await v2.authenticate()).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert "5 per minute" in (await v2.authenticate()).json()["message"]


async def test_several_tokens_are_valid_at_once(v2: V2) -> None:
    await v2.authenticate()
    first = v2.token
    await v2.authenticate()
    assert first != v2.token
    for token in (first, v2.token):
        v2.token = token
        assert (await v2.orders("BTC_USDT")).status_code == 200


async def test_bearer_and_timestamp_rules(v2: V2) -> None:
    params = {"symbol": "BTC_USDT", "status": 5, "offset": 0, "limit": 10}
    await v2.authenticate()
    missing = await v2.http.get("/v2/orders", params=params)
    assert missing.status_code == 401
    v2_token = v2.token
    v2.token = "not-a-token"
    assert (await v2.orders("BTC_USDT")).status_code == 401
    v2.token = v2_token
    for stamp, expected in ((now_ms() - 61_000, 400), (now_ms() + 61_000, 400),
                            (now_ms() - 30_000, 200)):
        response = await v2.http.get("/v2/orders", params=params, headers=v2.headers(stamp))
        assert response.status_code == expected, response.text
    stale = await v2.http.get("/v2/orders", params=params, headers=v2.headers(now_ms() - 70_000))
    assert "60 s" in stale.json()["message"]


async def test_token_expiry_fault_and_early_expiry(v2: V2, control: httpx.AsyncClient) -> None:
    await control.patch("/faults", json={"token_ttl_s": 0.3})
    response = await v2.authenticate()
    assert response.json()["expires_in"] == 900  # what the exchange says, not what it does
    assert (await v2.orders("BTC_USDT")).status_code == 200
    await asyncio.sleep(0.4)
    expired = await v2.orders("BTC_USDT")
    assert expired.status_code == 401 and "expired" in expired.json()["message"]
    await control.patch("/faults", json={"token_ttl_s": 900})
    await v2.authenticate()
    assert (await control.post("/tokens/expire")).json() == {"expired": 1}
    assert (await v2.orders("BTC_USDT")).status_code == 401
    faults = (await control.get("/faults")).json()
    assert faults["injected"]["token_expiry"] == 1


@pytest.mark.parametrize(("drop", "message"), [
    ("symbol", "Required String parameter 'symbol' is not present"),
    ("status", "Required Integer parameter 'status' is not present"),
    ("offset", "Required Integer parameter 'offset' is not present"),
    ("limit", "Required Integer parameter 'limit' is not present"),
])
async def test_list_parameters_are_required(v2: V2, drop: str, message: str) -> None:
    await v2.authenticate()
    params = {"symbol": "BTC_USDT", "status": 5, "offset": 0, "limit": 10}
    del params[drop]
    response = await v2.get("/v2/orders", **params)
    assert response.status_code == 400 and response.json() == {"message": message}


async def test_list_rejects_bad_values(v2: V2) -> None:
    await v2.authenticate()
    six = await v2.orders("BTC_USDT", status=6)
    assert six.status_code == 400 and "status=6 not support any more" in six.json()["message"]
    for kwargs in ({"status": 9}, {"limit": 0}, {"limit": 1001}, {"offset": -1}):
        response = await v2.orders("BTC_USDT", **kwargs)
        assert response.status_code == 400, kwargs
    assert (await v2.orders("NOPE_USDT")).status_code == 400
    bad_int = await v2.get("/v2/orders", symbol="BTC_USDT", status="five", offset=0, limit=1)
    assert bad_int.status_code == 400


async def test_offset_is_a_page_index_over_the_live_set(v2: V2, control: httpx.AsyncClient,
                                                         sim: Running) -> None:
    await control.post("/populate", json={"per_symbol": 23, "symbol": "ETH_USDT"})
    await v2.authenticate()
    seen: list[int] = []
    for page in range(3):
        body = (await v2.orders("ETH_USDT", offset=page, limit=10)).json()
        assert body["current_page"] == page
        assert body["total_orders"] == 23 and body["total_pages"] == math.ceil(23 / 10)
        seen += [row["entrust_id"] for row in body["orders"]]
    truth = (await control.get("/truth", params={"open": 1, "symbol": "ETH_USDT"})).json()
    assert seen == [int(o["orderId"]) for o in truth["orders"]]
    assert (await v2.orders("ETH_USDT", offset=3, limit=10)).json()["orders"] == []


async def test_status_filters(v2: V2, control: httpx.AsyncClient) -> None:
    new = await place(control)
    part = await place(control)
    done = await place(control)
    gone = await place(control)
    await control.post(f"/orders/{part['orderId']}/fill", json={"size": "0.05"})
    await control.post(f"/orders/{done['orderId']}/fill", json={})
    await control.post(f"/orders/{gone['orderId']}/cancel", json={})
    await v2.authenticate()

    async def ids(status: int) -> set[str]:
        rows = (await v2.orders("BTC_USDT", status=status)).json()["orders"]
        return {str(r["entrust_id"]) for r in rows}

    assert await ids(1) == {new["orderId"]}
    assert await ids(2) == {part["orderId"]}
    assert await ids(3) == {done["orderId"]}
    assert await ids(4) == {gone["orderId"]}
    assert await ids(5) == {new["orderId"], part["orderId"]}
    assert len(await ids(0)) == 4


async def test_detail_and_not_found(v2: V2, control: httpx.AsyncClient) -> None:
    order = await place(control, side="sell", price="70000", size="0.5")
    await control.post(f"/orders/{order['orderId']}/fill", json={"size": "0.2"})
    await v2.authenticate()
    row = (await v2.get(f"/v2/orders/{order['orderId']}")).json()
    assert row["status"] == 2 and row["executed_amount"] == "0.2"
    assert row["remaining_amount"] == "0.3" and row["fees"] == "14"
    missing = await v2.get("/v2/orders/123")
    assert missing.status_code == 404 and missing.json() == {"message": "Not found"}


async def test_rest_lag_hides_a_changed_order(v2: V2, control: httpx.AsyncClient) -> None:
    order = await place(control)
    await v2.authenticate()
    await control.patch("/faults", json={"rest_lag_ms": 400})
    await control.post(f"/orders/{order['orderId']}/cancel", json={})
    assert (await v2.get(f"/v2/orders/{order['orderId']}")).status_code == 404
    await asyncio.sleep(0.45)
    row = (await v2.get(f"/v2/orders/{order['orderId']}")).json()
    assert row["status"] == 4
    assert (await control.get("/faults")).json()["injected"]["rest_lag"] >= 1


async def test_place_and_cancel_are_signed(v2: V2, control: httpx.AsyncClient) -> None:
    await v2.authenticate()
    placed = await v2.place("BMX_ETH", "buy", "0.000110", "100")
    assert placed.status_code == 200
    entrust_id = placed.json()["entrust_id"]
    assert isinstance(entrust_id, int)
    truth = (await control.get("/truth", params={"open": 1})).json()["orders"]
    assert [(o["orderId"], o["price"], o["size"]) for o in truth] == [
        (str(entrust_id), "0.00011", "100")]
    unsigned = await v2.http.post("/v2/orders", headers=v2.headers(), json={
        "symbol": "BMX_ETH", "side": "buy", "price": "0.0001", "amount": "1"})
    assert unsigned.status_code == 401
    cancel = await v2.cancel(entrust_id)
    assert cancel.status_code == 200 and cancel.json() == {}
    again = await v2.cancel(entrust_id)
    assert again.status_code == 400
    assert (await v2.cancel(99)).status_code == 404
    forged = await v2.http.delete(f"/v2/orders/{entrust_id}", headers=v2.headers() | {
        SIGNATURE_HEADER: "0" * 64})
    assert forged.status_code == 401


async def test_time_and_ping(v2: V2, control: httpx.AsyncClient) -> None:
    before = now_ms()
    server = (await v2.http.get("/v2/time")).json()["server_time"]
    assert before - 1000 <= server <= now_ms() + 1000
    await control.patch("/faults", json={"clock_skew_ms": -120_000})
    skewed = (await v2.http.get("/v2/time")).json()["server_time"]
    assert skewed <= now_ms() - 119_000
    assert (await v2.http.get("/v2/ping")).json() == {}


async def test_rest_faults_on_v2(v2: V2, control: httpx.AsyncClient) -> None:
    await v2.authenticate()
    await control.patch("/faults", json={"rest_5xx": 1.0})
    assert (await v2.orders("BTC_USDT")).status_code == 500
    await control.patch("/faults", json={"rest_5xx": 0.0, "rest_429": 1.0})
    response = await v2.orders("BTC_USDT")
    assert response.status_code == 429 and "message" in response.json()
    await control.patch("/faults", json={"rest_429": 0.0, "rest_slow_ms": 300})
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await v2.orders("BTC_USDT")).status_code == 200
    assert loop.time() - started >= 0.29
    injected = (await control.get("/faults")).json()["injected"]
    assert injected["rest_5xx"] == 1 and injected["rest_429"] == 1 and injected["rest_slow"] >= 1


async def test_page_shift_makes_naive_paging_skip(v2: V2, control: httpx.AsyncClient) -> None:
    await control.post("/populate", json={"per_symbol": 30, "symbol": "BTC_USDT"})
    await control.patch("/faults", json={"page_shift": 5})
    await v2.authenticate()
    seen: set[str] = set()
    for page in range(3):
        rows = (await v2.orders("BTC_USDT", offset=page, limit=10)).json()["orders"]
        seen |= {str(r["entrust_id"]) for r in rows}
    truth = (await control.get("/truth", params={"symbol": "BTC_USDT"})).json()["orders"]
    open_now = {o["orderId"] for o in truth if o["state"] in ("new", "partially_filled")}
    # Orders open from start to finish that the three page reads never returned:
    survivors = {o["orderId"] for o in truth if int(o["orderId"]) < min(map(int, seen)) + 30}
    skipped = (open_now & survivors) - seen
    assert skipped, "the page_shift fault must make page-index paging miss live orders"
    assert (await control.get("/faults")).json()["injected"]["page_shift"] == 3
