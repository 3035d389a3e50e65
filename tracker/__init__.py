"""The open-order tracker: an exact, always-current book of one exchange account's open
orders, with a bundled exchange simulator."""

__version__ = "0.1.0"
