"""ccxt against the simulator's OKX face: `ccxt.pro.okx`, REST and the private WebSocket,
in demo mode (`set_sandbox_mode(True)`: `x-simulated-trading: 1` on every REST call).

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
    ex = ccxtpro.okx({"apiKey": config["api_key"], "secret": config["secret"],
                      "password": config["passphrase"], "enableRateLimit": False,
                      "timeout": 5000})
    # Demo trading takes ccxt's `test` URLs; then both are pointed at the face. ccxt adds
    # `/private` (and, in demo, `?brokerId=9999`) to the WebSocket URL itself.
    ex.set_sandbox_mode(True)
    ex.urls["api"] = {"rest": config["rest_url"], "ws": config["ws_base"]}
    common = Unified(ex)

    async def edit(id: str, symbol: str, side: str, amount: str | None = None,
                   price: str | None = None) -> dict[str, Any]:
        """ccxt's editOrder: OKX's amend-order (the same ordId)."""
        return unified(await ex.edit_order(id, symbol, "limit", side,
                                           None if amount is None else float(amount),
                                           None if price is None else float(price)))

    async def watch(symbol: str | None = None) -> dict[str, Any]:
        """Start `watch_orders` (login, then `subscribe` to `orders`) and follow it. The
        test waits for the subscription on the simulator's side."""
        await ex.load_markets()
        common.follow(symbol)
        return {"url": ex.get_url("orders", "private")}

    return {**common.ops(), "edit": edit, "watch": watch}, common.close


if __name__ == "__main__":
    asyncio.run(serve(start))
