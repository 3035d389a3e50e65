"""The ways the tracker runs against the simulator, one or more per venue.

A suite that must hold on every venue (acceptance, crash safety, chaos, failover) takes a
`Profile` as its parameter and runs once per entry of `PROFILES`; a test of one venue's own
behaviour names its profile. A venue added to the tracker and to the simulator is then one
entry here, and every such suite runs for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


def _bitmart_keys(account: Any) -> dict[str, str]:
    return {"TRACKER_API_KEY": account.api_key, "TRACKER_API_SECRET": account.secret,
            "TRACKER_API_MEMO": account.memo}


def _binance_keys(account: Any) -> dict[str, str]:
    return {"TRACKER_API_KEY": account.api_key, "TRACKER_API_SECRET": account.secret}


def _okx_keys(account: Any) -> dict[str, str]:
    return {"TRACKER_API_KEY": account.api_key, "TRACKER_API_SECRET": account.secret,
            "TRACKER_PASSPHRASE": account.passphrase}


def _same(symbol: str) -> str:
    return symbol


def _joined(symbol: str) -> str:
    """Binance writes the simulator's `BASE_QUOTE` as `BASEQUOTE`."""
    return symbol.replace("_", "")


def _dashed(symbol: str) -> str:
    """OKX writes the simulator's `BASE_QUOTE` as `BASE-QUOTE`."""
    return symbol.replace("_", "-")


def _plain_id(symbol: str, order_id: str) -> str:
    return order_id


def _symbol_id(symbol: str, order_id: str) -> str:
    """Binance's order ids are unique within a symbol only: the book keys them by both."""
    return f"{_joined(symbol)}:{order_id}"


@dataclass(frozen=True)
class Profile:
    name: str
    venue: str
    settings: Mapping[str, str]  # its own TRACKER_* settings
    label: str  # what `sync_state.api` records while it runs
    seed_source: str  # the journal's `source` of its seed rows
    detail_source: str  # and of its order-detail answers
    keys: Callable[[Any], dict[str, str]]  # a simulator account's credentials, as TRACKER_*
    # The least time between two trackers' starts on one key that the venue lets through
    # without making the second wait: BitMart's v2 grants five sessions a minute.
    start_spacing_s: float = 0.0
    # How the venue spells a simulator symbol (`BTC_USDT`), and the book's id of an order
    # of the simulator's (its `orderId` and symbol): what the truth is compared by.
    symbol: Callable[[str], str] = _same
    book_id: Callable[[str, str], str] = _plain_id
    ws_key: str = "ws_url"  # the simulator's ready file names the face's WebSocket so
    paged: bool = True  # its seed reads pages (BitMart), or one list per symbol (Binance)

    def env(self, account: Any) -> dict[str, str]:
        return {"TRACKER_VENUE": self.venue, **self.settings, **self.keys(account)}

    def symbols(self, names: Iterable[str]) -> tuple[str, ...]:
        return tuple(self.symbol(n) for n in names)

    def keyed(self, truth: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """The simulator's truth as the book of this venue holds it: by the book's ids,
        with the venue's symbols."""
        return {self.book_id(t["symbol"], oid): {**t, "symbol": self.symbol(t["symbol"])}
                for oid, t in truth.items()}

    def __str__(self) -> str:  # the parametrized test's id
        return self.name


BITMART_V2 = Profile("bitmart-v2", "bitmart", {"TRACKER_API": "v2"}, "v2", "seed_v2",
                     "detail_v2", _bitmart_keys, start_spacing_s=13.0)
BITMART_V4 = Profile("bitmart-v4", "bitmart", {"TRACKER_API": "v4"}, "v4", "seed_v4",
                     "detail_v4", _bitmart_keys)
BINANCE = Profile("binance", "binance", {}, "v3", "seed", "detail", _binance_keys,
                  symbol=_joined, book_id=_symbol_id, ws_key="binance_ws_url", paged=False)
OKX = Profile("okx", "okx", {}, "v5", "seed", "detail", _okx_keys, symbol=_dashed,
              ws_key="okx_ws_url")
PROFILES = (BITMART_V2, BITMART_V4, BINANCE, OKX)
BY_NAME = {p.name: p for p in PROFILES}
VENUES = tuple(dict.fromkeys(p.venue for p in PROFILES))


def of_venue(venue: str | None) -> tuple[Profile, ...]:
    """The profiles of one venue (None: every venue's), for a soak that draws from them."""
    return tuple(p for p in PROFILES if venue in (None, p.venue))
