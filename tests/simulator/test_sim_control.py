"""The simulator's control API: validation, ground truth, flow and statistics."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from simulator.state import Settings
from tests.conftest import place


@pytest.fixture
def settings() -> Settings:
    return Settings(port=0, open_orders_per_symbol=4, seed=3)


async def test_truth_reflects_every_change(control: httpx.AsyncClient) -> None:
    initial = (await control.get("/truth", params={"open": 1})).json()["orders"]
    assert len(initial) == 12 and {o["state"] for o in initial} == {"new"}
    order = await place(control, symbol="ETH_USDT", side="sell", price="3100", size="2")
    filled = (await control.post(f"/orders/{order['orderId']}/fill",
                                 json={"size": "0.5"})).json()
    assert filled["state"] == "partially_filled" and filled["filledSize"] == "0.5"
    assert filled["fills"] == 1 and filled["filledNotional"] == "1550"
    canceled = (await control.post(f"/orders/{order['orderId']}/cancel", json={})).json()
    assert canceled["state"] == "partially_canceled" and canceled["cancelSource"] == "user"
    everything = (await control.get("/truth")).json()["orders"]
    assert len(everything) == 13
    eth_open = (await control.get("/truth", params={"open": 1, "symbol": "ETH_USDT"})).json()
    assert len(eth_open["orders"]) == 4


@pytest.mark.parametrize(("path", "body", "status", "needle"), [
    ("/orders", {"symbol": "NOPE_X", "side": "buy", "price": "1", "size": "1"}, 409, "symbol"),
    ("/orders", {"symbol": "BTC_USDT", "side": "buy", "price": "x", "size": "1"}, 400, "decimal"),
    ("/orders", {"symbol": "BTC_USDT", "side": "buy", "price": "NaN", "size": "1"}, 400, "finite"),
    ("/orders/424242/fill", {}, 404, "not found"),
    ("/orders", {"symbol": "BTC_USDT", "side": "buy", "price": "1", "size": "1",
                 "client_order_id": 7}, 400, "client_order_id"),
    ("/populate", {"per_symbol": -1}, 400, "per_symbol"),
    ("/populate", {"per_symbol": 1, "symbol": "X_Y"}, 400, "symbol"),
    ("/ws/drop", {"mode": "explode"}, 400, "mode"),
    ("/ws/drop", {"mode": "close", "code": 1005}, 400, "code"),
    # The faces' own calls, which share these checks.
    ("/binance/shutdown", {"delay_s": -1}, 400, "delay_s must be a number of seconds"),
    ("/okx/notice", {"delay_s": True}, 400, "delay_s must be a number of seconds"),
    ("/binance/revoke", {"revoked": "yes"}, 400, "revoked must be true or false"),
    ("/okx/revoke", {"revoked": 1}, 400, "revoked must be true or false"),
])
async def test_bad_control_requests(control: httpx.AsyncClient, path: str, body: dict,
                                    status: int, needle: str) -> None:
    response = await control.post(path, json=body)
    assert response.status_code == status
    assert needle in response.json()["error"]


@pytest.mark.parametrize(("faults", "needle"), [
    ({"push_drop": 1.5}, "probability"),
    ({"push_drop": "often"}, "push_drop"),
    ({"ws_silent": 1}, "ws_silent"),
    ({"rest_lag_ms": -5}, "negative"),
    ({"rest_lag_ms": 1.5}, "rest_lag_ms"),
    ({"token_ttl_s": 0}, "positive"),
    ({"warp_drive": True}, "unknown fault"),
])
async def test_fault_validation_is_atomic(control: httpx.AsyncClient, faults: dict,
                                          needle: str) -> None:
    before = (await control.get("/faults")).json()["faults"]
    response = await control.patch("/faults", json={"push_duplicate": 0.5} | faults)
    assert response.status_code == 400 and needle in response.json()["error"]
    assert (await control.get("/faults")).json()["faults"] == before


async def test_body_must_be_a_json_object(control: httpx.AsyncClient) -> None:
    response = await control.patch("/faults", content=b"[1, 2]")
    assert response.status_code == 400
    response = await control.patch("/faults", content=b"{nope")
    assert response.status_code == 400 and "not JSON" in response.json()["error"]


async def test_flow_runs_at_the_configured_rate(control: httpx.AsyncClient) -> None:
    assert (await control.get("/flow")).json()["events"] == 0
    await control.patch("/flow", json={"rate": 200, "mix": "new=1"})
    await asyncio.sleep(0.5)
    await control.patch("/flow", json={"rate": 0})
    events = (await control.get("/flow")).json()["events"]
    assert 40 <= events <= 140
    stats = (await control.get("/stats")).json()
    assert stats["orders"] == 12 + events and stats["flow_events"] == events
    assert (await control.patch("/flow", json={"rate": -1})).status_code == 400
    assert (await control.patch("/flow", json={"mix": "nothing=1"})).status_code == 400
