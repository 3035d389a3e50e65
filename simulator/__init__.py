"""A BitMart-compatible exchange in one process: v2 REST, v4 REST and the private
WebSocket over one order store, with fault injection and a ground-truth view.

It exists because the live exchange cannot be reached from where the tracker is built
and tested; everything here follows `shared/bitmart-protocol.md`, quirks included.
"""
