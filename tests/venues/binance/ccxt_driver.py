"""ccxt against the simulator's Binance face: `ccxt.pro.binance`, REST and the WebSocket API.

Run by test_conformance.py with the clients' own packages (`make clients`), as
`python -S ccxt_driver.py`; speaks driverio's line protocol. Each op is one unified ccxt
call, and answers what ccxt parsed (its unified order, `info` included); the ops every
venue's ccxt driver shares are tests/clients/ccxtdriver.py's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.pro as ccxtpro
from ccxtdriver import Unified, unified
from driverio import Op, serve


async def start(config: dict[str, Any]) -> tuple[dict[str, Op], Op]:
    rest = config["rest_url"] + "/api/v3"
    ex = ccxtpro.binance({
        "apiKey": config["api_key"], "secret": config["secret"],
        "enableRateLimit": False, "timeout": 5000,
        "options": {
            "fetchMarkets": {"types": ["spot"]},  # not the futures' and options' hosts
            "fetchMargins": False,  # signed sapi margin lists, no part of Spot's API
            "fetchCurrencies": False,  # a sapi call (wallet), no part of Spot's API
        },
        # Deep-merged into ccxt's own: only Spot's REST and WebSocket API are redirected.
        "urls": {"api": {"public": rest, "private": rest,
                         "ws": {"ws-api": {"spot": config["ws_url"]}}}},
    })
    common = Unified(ex)

    async def edit(id: str, symbol: str, side: str, amount: str, price: str
                   ) -> dict[str, Any]:
        """ccxt's editOrder: on Spot a cancel-replace (POST /api/v3/order/cancelReplace)."""
        return unified(await ex.edit_order(id, symbol, "limit", side, float(amount),
                                           float(price)))

    async def amend(id: str, symbol: str, amount: str, client_id: str) -> Any:
        """Amend keep-priority has no unified method: ccxt's signed request to the path."""
        return await ex.request("order/amend/keepPriority", ["private"], "PUT", {
            "symbol": ex.market_id(symbol), "orderId": id, "newQty": amount,
            "newClientOrderId": client_id})

    async def fetch_open_orders(symbol: str | None = None, acknowledged: bool = False
                                ) -> list[dict[str, Any]]:
        """`acknowledged`: set the option that lets ccxt ask for every symbol at once."""
        if acknowledged:
            ex.options["fetchOpenOrders"]["warnWithoutSymbol"] = False
        return await common.fetch_open_orders(symbol)

    async def watch(symbol: str | None = None) -> dict[str, Any]:
        """Subscribe (userDataStream.subscribe.signature), then follow `watch_orders`."""
        await ex.load_markets()
        await ex.authenticate({"type": "spot"})
        common.follow(symbol)
        return {"subscriptions": sorted(c.url for c in ex.clients.values())}

    return {**common.ops(), "edit": edit, "amend": amend,
            "fetch_open_orders": fetch_open_orders, "watch": watch}, common.close


if __name__ == "__main__":
    asyncio.run(serve(start))
