"""Binance Spot's face: its REST API (open orders, order query, place, cancel,
cancel-replace, amend, time, exchange info) and its WebSocket API's user data stream, as
docs/binance.md and docs/simulator.md describe them.

Like BitMart's face, it imports of the daemon only its venue's protocol facts and signing
recipes (`tracker.venues.binance`), so that both sides speak from the same facts.
"""
