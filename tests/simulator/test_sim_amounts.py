"""How the simulator spells amounts and ids, on every face, in both amount styles.

"minimal" is what captured live traffic looks like (the fewest decimals; a fill's `dealFee`
with 9); "padded" is the style of BitMart's documentation examples. Ids are 18 digits in
both, as the exchange's are: above 2**53, where a JSON reader that uses doubles loses them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from simulator.state import Settings
from tests.conftest import place
from tests.simclient import V2, V4, WS
from tracker.venues.bitmart.protocol import order_topic

# The same orders, as each style writes them: a limit buy of 0.25 at 50000 with 0.1 filled,
# and a market sell of 0.01.
EXPECTED = {
    "minimal": {
        "v2": {"price": "50000", "original_amount": "0.25", "executed_amount": "0.1",
               "remaining_amount": "0.15", "fees": "5"},
        "v4": {"price": "50000", "priceAvg": "50000", "size": "0.25", "filledSize": "0.1",
               "notional": "12500", "filledNotional": "5000"},
        "sell_notional": "0",
        "new_push": {"price": "50000", "size": "0.25", "filled_size": "0",
                     "filled_notional": "0", "notional": "12500", "dealFee": "0"},
        "fill_push": {"filled_size": "0.1", "filled_notional": "5000",
                      "last_fill_price": "50000", "last_fill_count": "0.1",
                      "dealFee": "5.000000000"},
    },
    "padded": {
        "v2": {"price": "50000.00", "original_amount": "0.25000",
               "executed_amount": "0.10000", "remaining_amount": "0.15000",
               "fees": "5.00000000"},
        "v4": {"price": "50000.00", "priceAvg": "50000.00", "size": "0.25000",
               "filledSize": "0.10000", "notional": "12500.00000000",
               "filledNotional": "5000.00000000"},
        "sell_notional": "0.00000000",
        "new_push": {"price": "50000.00", "size": "0.25000", "filled_size": "0.00000",
                     "filled_notional": "0.00000000", "notional": "12500.00000000",
                     "dealFee": "0"},
        "fill_push": {"filled_size": "0.10000", "filled_notional": "5000.00000000",
                      "last_fill_price": "50000.00", "last_fill_count": "0.10000",
                      "dealFee": "5.00000000"},
    },
}
STYLES = pytest.mark.parametrize(("settings", "style"), [
    (Settings(port=0, amounts=style), style) for style in EXPECTED], ids=list(EXPECTED))


def picked(row: dict[str, Any], expected: dict[str, str]) -> dict[str, Any]:
    return {k: row.get(k) for k in expected}


async def limit_order(control: httpx.AsyncClient) -> str:
    order = await place(control, price="50000", size="0.25")
    filled = await control.post(f"/orders/{order['orderId']}/fill", json={"size": "0.1"})
    assert filled.status_code == 200, filled.text
    return str(order["orderId"])


def check_id(order_id: Any) -> None:
    assert isinstance(order_id, str) and len(order_id) == 18 and order_id.isdigit()
    assert int(order_id) > 2**53


@STYLES
async def test_rest_faces_write_the_style(control: httpx.AsyncClient, v2: V2, v4: V4,
                                          style: str) -> None:
    want = EXPECTED[style]
    oid = await limit_order(control)
    sell = await place(control, type="market", side="sell", size="0.01")
    await v2.authenticate()
    row = (await v2.get(f"/v2/orders/{oid}")).json()
    assert picked(row, want["v2"]) == want["v2"]
    body = (await v4.post("/spot/v4/query/order", {"orderId": oid})).json()["data"]
    assert picked(body, want["v4"]) == want["v4"]
    check_id(body["orderId"])
    sold = (await v4.post("/spot/v4/query/order", {"orderId": sell["orderId"]})).json()
    assert sold["data"]["notional"] == want["sell_notional"]
    truth = (await control.get("/truth")).json()["orders"]
    assert picked(next(o for o in truth if o["orderId"] == oid), want["v4"]) == want["v4"]


@STYLES
async def test_pushes_write_the_style(control: httpx.AsyncClient,
                                      ws_factory: Callable[[], Awaitable[WS]],
                                      style: str) -> None:
    want = EXPECTED[style]
    conn = await ws_factory()
    assert await conn.login() == {"event": "login"}
    await conn.subscribe(order_topic("BTC_USDT"))
    oid = await limit_order(control)
    new, fill = await conn.pushes(2)
    assert picked(new, want["new_push"]) == want["new_push"]
    assert picked(fill, want["fill_push"]) == want["fill_push"]
    assert new["order_id"] == fill["order_id"] == oid
    check_id(oid)


async def test_v2_ids_are_18_digit_json_numbers(control: httpx.AsyncClient, v2: V2) -> None:
    """v2 writes ids as JSON numbers: exact in the bytes, but past what a double holds."""
    ids = [await limit_order(control) for _ in range(3)]
    await v2.authenticate()
    listing = await v2.orders("BTC_USDT")
    # Read with integers kept as their digits, as a careful client in any language would.
    raw = json.loads(listing.content, parse_int=str)
    assert sorted(r["entrust_id"] for r in raw["orders"]) == sorted(ids)
    for oid in ids:
        check_id(oid)
    assert any(int(float(oid)) != int(oid) for oid in ids)  # a double reader corrupts them
