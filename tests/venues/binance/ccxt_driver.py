"""ccxt against the simulator's Binance face: `ccxt.pro.binance`, REST and the WebSocket API.

Run by test_conformance.py with the clients' own packages (`make clients`), as
`python -S ccxt_driver.py`; speaks driverio's line protocol. Each op is one unified ccxt
call, and answers what ccxt parsed (its unified order, `info` included).
"""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.pro as ccxtpro
from driverio import Op, emit, error, serve


def unified(order: dict[str, Any]) -> dict[str, Any]:
    """The order as ccxt parsed it, copied: ccxt.pro changes its cached dicts in place."""
    return {k: v for k, v in order.items() if k not in ("trades", "fees")}


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
    watchers: list[asyncio.Task[None]] = []

    async def place(symbol: str, side: str, amount: str, price: str,
                    client_id: str | None = None) -> dict[str, Any]:
        params = {"clientOrderId": client_id} if client_id else {}
        return unified(await ex.create_order(symbol, "limit", side, float(amount),
                                             float(price), params))

    async def cancel(id: str, symbol: str) -> dict[str, Any]:
        return unified(await ex.cancel_order(id, symbol))

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

    async def fetch_order(id: str, symbol: str) -> dict[str, Any]:
        return unified(await ex.fetch_order(id, symbol))

    async def fetch_open_orders(symbol: str | None = None, acknowledged: bool = False
                                ) -> list[dict[str, Any]]:
        """`acknowledged`: set the option that lets ccxt ask for every symbol at once."""
        if acknowledged:
            ex.options["fetchOpenOrders"]["warnWithoutSymbol"] = False
        return [unified(o) for o in await ex.fetch_open_orders(symbol)]

    async def watch(symbol: str | None = None) -> dict[str, Any]:
        """Subscribe (userDataStream.subscribe.signature), then hand on every batch
        `watch_orders` returns, as events, until the driver ends."""
        await ex.load_markets()
        await ex.authenticate({"type": "spot"})

        async def follow() -> None:
            while True:
                try:
                    batch = await ex.watch_orders(symbol)
                except Exception as exc:
                    emit({"event": "error", "error": error(exc)})
                    return
                emit({"event": "orders", "symbol": symbol,
                      "orders": [unified(o) for o in batch]})

        watchers.append(asyncio.create_task(follow()))
        return {"subscriptions": sorted(c.url for c in ex.clients.values())}

    async def cached() -> list[dict[str, Any]]:
        """Every order ccxt.pro's cache holds: its last-write-wins state of the stream."""
        if ex.orders is None:
            return []
        return [unified(o) for by_id in ex.orders.hashmap.values() for o in by_id.values()]

    async def close() -> None:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await ex.close()

    ops: dict[str, Op] = {"place": place, "cancel": cancel, "edit": edit, "amend": amend,
                          "fetch_order": fetch_order, "fetch_open_orders": fetch_open_orders,
                          "watch": watch, "cached": cached}
    return ops, close


if __name__ == "__main__":
    asyncio.run(serve(start))
