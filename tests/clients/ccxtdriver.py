"""What every venue's ccxt driver (tests/venues/*/ccxt_driver.py) does alike: the unified
calls no venue changes, `watch_orders` followed into events, ccxt.pro's cache, and the
close. A driver builds its `ccxt.pro` exchange, adds the ops its venue needs, and serves.

Run in the drivers' process, on the clients' packages (beside driverio.py, which
conformance.py puts on their path): standard library and driverio only; the exchange is
handed in.
"""

from __future__ import annotations

import asyncio
from typing import Any

from driverio import Op, emit, error


def unified(order: dict[str, Any]) -> dict[str, Any]:
    """The order as ccxt parsed it, copied: ccxt.pro changes its cached dicts in place."""
    return {k: v for k, v in order.items() if k not in ("trades", "fees")}


class Unified:
    """The ops one `ccxt.pro` exchange answers the same way on every venue."""

    def __init__(self, ex: Any) -> None:
        self.ex = ex
        self.watchers: list[asyncio.Task[None]] = []

    def ops(self) -> dict[str, Op]:
        return {"place": self.place, "cancel": self.cancel, "fetch_order": self.fetch_order,
                "fetch_open_orders": self.fetch_open_orders, "cached": self.cached}

    async def place(self, symbol: str, side: str, amount: str, price: str,
                    client_id: str | None = None) -> dict[str, Any]:
        params = {"clientOrderId": client_id} if client_id else {}
        return unified(await self.ex.create_order(symbol, "limit", side, float(amount),
                                                  float(price), params))

    async def cancel(self, id: str, symbol: str) -> dict[str, Any]:
        return unified(await self.ex.cancel_order(id, symbol))

    async def fetch_order(self, id: str, symbol: str) -> dict[str, Any]:
        return unified(await self.ex.fetch_order(id, symbol))

    async def fetch_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return [unified(o) for o in await self.ex.fetch_open_orders(symbol)]

    def follow(self, symbol: str | None) -> None:
        """Hand on every batch `watch_orders` returns, as events, until the driver ends (or
        the watch fails: its error, once)."""

        async def follow() -> None:
            while True:
                try:
                    batch = await self.ex.watch_orders(symbol)
                except Exception as exc:
                    emit({"event": "error", "error": error(exc)})
                    return
                emit({"event": "orders", "symbol": symbol,
                      "orders": [unified(o) for o in batch]})

        self.watchers.append(asyncio.create_task(follow()))

    async def cached(self) -> list[dict[str, Any]]:
        """Every order ccxt.pro's cache holds: its last-write-wins state of the stream."""
        if self.ex.orders is None:
            return []
        return [unified(o) for by_id in self.ex.orders.hashmap.values()
                for o in by_id.values()]

    async def close(self) -> None:
        for task in self.watchers:
            task.cancel()
        await asyncio.gather(*self.watchers, return_exceptions=True)
        await self.ex.close()
