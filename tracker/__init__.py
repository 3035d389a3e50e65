"""Open-order tracker for one BitMart account, with a bundled exchange simulator."""

__version__ = "0.1.0"
