"""Binance Spot: its REST seed and order lookups, its WebSocket API user data stream."""
