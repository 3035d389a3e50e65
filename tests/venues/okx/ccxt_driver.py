"""ccxt against the simulator's OKX face: `ccxt.pro.okx`, REST and the private WebSocket,
in demo mode (`set_sandbox_mode(True)`: `x-simulated-trading: 1` on every REST call).

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
    ex = ccxtpro.okx({"apiKey": config["api_key"], "secret": config["secret"],
                      "password": config["passphrase"], "enableRateLimit": False,
                      "timeout": 5000})
    # Demo trading takes ccxt's `test` URLs; then both are pointed at the face. ccxt adds
    # `/private` (and, in demo, `?brokerId=9999`) to the WebSocket URL itself.
    ex.set_sandbox_mode(True)
    ex.urls["api"] = {"rest": config["rest_url"], "ws": config["ws_base"]}
    watchers: list[asyncio.Task[None]] = []

    async def place(symbol: str, side: str, amount: str, price: str,
                    client_id: str | None = None) -> dict[str, Any]:
        params = {"clientOrderId": client_id} if client_id else {}
        return unified(await ex.create_order(symbol, "limit", side, float(amount),
                                             float(price), params))

    async def edit(id: str, symbol: str, side: str, amount: str | None = None,
                   price: str | None = None) -> dict[str, Any]:
        """ccxt's editOrder: OKX's amend-order (the same ordId)."""
        return unified(await ex.edit_order(id, symbol, "limit", side,
                                           None if amount is None else float(amount),
                                           None if price is None else float(price)))

    async def cancel(id: str, symbol: str) -> dict[str, Any]:
        return unified(await ex.cancel_order(id, symbol))

    async def fetch_order(id: str, symbol: str) -> dict[str, Any]:
        return unified(await ex.fetch_order(id, symbol))

    async def fetch_open_orders(symbol: str | None = None) -> list[dict[str, Any]]:
        return [unified(o) for o in await ex.fetch_open_orders(symbol)]

    async def watch(symbol: str | None = None) -> dict[str, Any]:
        """Start `watch_orders` (login, then `subscribe` to `orders`), handing on every
        batch it returns as an event until the driver ends. The test waits for the
        subscription on the simulator's side."""
        await ex.load_markets()

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
        return {"url": ex.get_url("orders", "private")}

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

    ops: dict[str, Op] = {"place": place, "edit": edit, "cancel": cancel,
                          "fetch_order": fetch_order, "fetch_open_orders": fetch_open_orders,
                          "watch": watch, "cached": cached}
    return ops, close


if __name__ == "__main__":
    asyncio.run(serve(start))
