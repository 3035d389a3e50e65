"""The public market-list endpoints that general-purpose clients read before anything else.

ccxt's `load_markets` reads all three (the contract list from its "swap" host); without
them it cannot place a single private call, so the simulator answers them from its symbols
(every symbol any of its accounts trades: the lists are public, not an account's).
"""

from __future__ import annotations

from aiohttp import web

from simulator.faces.bitmart.replies import v4_response
from simulator.faces.bitmart.venue import VENUE_KEY
from tracker.venues.bitmart.protocol import SYMBOLS_DETAILS


def routes() -> list[web.RouteDef]:
    return [
        web.get("/account/v1/currencies", currencies),
        web.get(SYMBOLS_DETAILS, symbol_details),
        web.get("/contract/public/details", contract_details),
    ]


async def currencies(request: web.Request) -> web.Response:
    venue = request.app[VENUE_KEY]
    names = sorted({part for name in venue.sim.symbols for part in name.split("_", 1)})
    rows = [{"currency": c, "name": c, "network": c, "withdraw_enabled": False,
             "deposit_enabled": False} for c in names]
    return v4_response(venue, {"currencies": rows})


async def symbol_details(request: web.Request) -> web.Response:
    venue = request.app[VENUE_KEY]
    rows = []
    for number, spec in enumerate(venue.sim.symbols.values(), start=1):
        base, quote = spec.name.split("_", 1)
        rows.append({
            "symbol": spec.name, "symbol_id": number, "base_currency": base,
            "quote_currency": quote, "quote_increment": str(10 ** -spec.size_scale),
            "base_min_size": f"{10 ** -spec.size_scale:.{spec.size_scale}f}",
            "base_max_size": "100000000", "price_min_precision": spec.price_scale,
            "price_max_precision": spec.price_scale, "expiration": "NA",
            "min_buy_amount": "5", "min_sell_amount": "5", "trade_status": "trading",
        })
    return v4_response(venue, {"symbols": rows})


async def contract_details(request: web.Request) -> web.Response:
    return v4_response(request.app[VENUE_KEY], {"symbols": []})
