"""A venue's markets as the book records them (`markets`, schema 8): each of its symbols
with its base and quote currency, which make its unified `BASE/QUOTE` (ccxt's unified
form, `BTC/USDT`), so that one query finds one market's orders on every venue.

Pure: the driver (`tracker.sync`) reads the venue's list and writes what this accepts. A
row the book would refuse (its CHECKs) would fail the whole batch it rides in, and the
batch would be retried for ever: what the venue lists is checked here first, and what
fails is left out and named, never written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A currency code as venues write them: no slash (it separates the two halves of the
# unified symbol) and no white space; letters of any script (Binance lists a few).
CURRENCY = re.compile(r"[^\s/]{1,32}")
SYMBOL_MAX = 64

Row = tuple[str, str, str, str]  # (venue, symbol, base, quote): a `markets` row


class Known:
    """What this writer has recorded of its venue's markets: a market is written once, and
    again only if the venue lists it otherwise."""

    def __init__(self, venue: str, symbol: re.Pattern[str]) -> None:
        self.venue = venue
        self.symbol = symbol  # a symbol as the venue writes it (`Venue.symbol`)
        self.recorded: dict[str, tuple[str, str]] = {}
        self.refused: set[str] = set()

    def news(self, found: Mapping[str, tuple[str, str]]) -> tuple[list[Row], list[str]]:
        """The rows to write (new or changed markets, sorted by symbol), taken as recorded,
        and the symbols refused for the first time (each is said once): not a symbol of the
        venue, or a base or quote that is not a currency code."""
        rows: list[Row] = []
        refused: list[str] = []
        for symbol, pair in sorted(found.items(), key=lambda item: str(item[0])):
            if not acceptable(symbol, pair, self.symbol):
                name = str(symbol)[:SYMBOL_MAX]
                if name not in self.refused:
                    self.refused.add(name)
                    refused.append(name)
                continue
            if self.recorded.get(symbol) != pair:
                self.recorded[symbol] = pair
                rows.append((self.venue, symbol, *pair))
        return rows, refused


def acceptable(symbol: object, pair: object, pattern: re.Pattern[str]) -> bool:
    return (isinstance(symbol, str) and len(symbol) <= SYMBOL_MAX
            and pattern.fullmatch(symbol) is not None
            and isinstance(pair, tuple) and len(pair) == 2
            and all(isinstance(c, str) and CURRENCY.fullmatch(c) and c.isprintable()
                    for c in pair))

