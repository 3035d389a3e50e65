"""BitMart as the core sees it (`tracker.venue.Venue`): its own settings, its credentials,
its two REST families (`api = "v2"` as the product was specified, or `"v4"`) and its
private channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker.codec import OrderUpdate
from tracker.credentials import Credentials
from tracker.settings import ConfigError, setting
from tracker.venues.bitmart import codec
from tracker.venues.bitmart.keys import NAMES, Keys
from tracker.venues.bitmart.protocol import V2_PAGE_MAX, V4_PAGE_MAX

if TYPE_CHECKING:
    from tracker.venue import Channel, Configured, Rest

URLS = {
    "v2": ("https://openapi.bitmart.com",
           "wss://ws-manager-compress.bitmart.com/user?protocol=1.1"),
    "v4": ("https://api-cloud.bitmart.com",
           "wss://ws-manager-compress.bitmart.com/user?protocol=1.1"),
}
PAGE_MAX = {"v2": V2_PAGE_MAX, "v4": V4_PAGE_MAX}


@dataclass(frozen=True)
class Settings:
    """BitMart's own rows of the settings table."""

    api: str = setting("v2", "`v2`: seed from `GET /v2/orders?status=5`, as documented; "
                       "`v4`: seed from `POST /spot/v4/query/open-orders`",
                       choices=tuple(URLS))
    rest_rate: float = setting(10.0, "v2 calls per second (v4 is paced to BitMart's "
                               "published per-key limits)", above=0)
    seed_passes: int = setting(4, "v2: at most this many pagination passes (see [how it "
                               "stays exact](how-it-stays-exact.md))",
                               low=2, why="so that two passes can agree")
    v4_since_ms: int = setting(1_514_764_800_000, "v4: the explicit `startTime` of the seed "
                               "(the 7-day default window would hide older orders)",
                               shown="2018-01-01")  # before any v4 order existed


class Dialect:
    """BitMart's payloads under one REST family (`tracker.venue.Codec`). Its sources are
    made once: every seeded row holds its source, and a book of 100,000 rows must hold one
    string, not 100,000 copies of it."""

    order_id = codec.ORDER_ID

    def __init__(self, api: str) -> None:
        self.api = api
        self.seed_source = f"seed_{api}"
        self.detail_source = f"detail_{api}"
        # v4 answers "not found" for good about an order canceled with no fill some 20
        # minutes ago (and keeps every order with a fill); v2 never forgets one.
        self.inferred_source = "inferred_v4" if api == "v4" else None
        self._rest_row = codec.from_v2 if api == "v2" else codec.from_v4

    def seed_row(self, raw: Any) -> OrderUpdate:
        return self._rest_row(raw, self.seed_source)

    def detail(self, raw: Any) -> OrderUpdate:
        return self._rest_row(raw, self.detail_source)

    def push_element(self, raw: Any) -> OrderUpdate:
        return codec.from_push(raw)

    def element_id(self, raw: Any) -> str | None:
        oid = raw.get("order_id") if isinstance(raw, dict) else None
        return oid if isinstance(oid, str) and len(oid) <= 64 else None


class BitMart:
    name = "bitmart"
    title = "BitMart"
    settings = Settings
    credential_names = NAMES
    symbol = codec.SYMBOL
    symbol_form = "BASE_QUOTE"
    symbol_example = "BTC_USDT"
    # The exchange drops a private connection that sent nothing for 20 s.
    idle_cut_s = 20.0

    def defaults(self, settings: Settings) -> tuple[str, str]:
        return URLS[settings.api]

    def check(self, config: Configured) -> None:
        api = config.venue_settings.api
        if config.symbols is None and api == "v2":
            raise ConfigError("symbols: the v2 order list needs explicit symbols (\"*\" is "
                              "v4 only)")
        if not 1 <= config.page_size <= PAGE_MAX[api]:
            raise ConfigError(f"page_size: must be between 1 and {PAGE_MAX[api]} for {api}, "
                              f"got {config.page_size}")

    def state_label(self, settings: Settings) -> str:
        return settings.api

    def account_key(self, credentials: Credentials) -> str:
        return Keys.of(credentials).api_key  # the memo is the owner's label, the secret secret

    def rest_lag_s(self, settings: Settings) -> float:
        return 0.0  # no lag documented; order lookups wait `grace_period` all the same

    def native_id(self, order_id: str) -> str:
        return order_id  # unique in the account as BitMart gives it

    def codec(self, settings: Settings) -> Dialect:
        return Dialect(settings.api)

    def rest(self, config: Configured) -> Rest:
        from tracker.venues.bitmart.rest import V2Rest, V4Rest

        own: Settings = config.venue_settings
        keys = Keys.of(config.credentials)
        common: dict[str, Any] = {"timeout": config.rest_timeout,
                                  "retries": config.rest_retries,
                                  "max_bytes": config.rest_max_bytes}
        if own.api == "v2":
            return V2Rest(config.rest_url, keys, page_size=config.page_size,
                          rate=own.rest_rate, max_passes=own.seed_passes, **common)
        return V4Rest(config.rest_url, keys, since_ms=own.v4_since_ms,
                      page_size=config.page_size, **common)

    def channel(self, config: Configured, symbols: list[str] | None) -> Channel:
        from tracker.venues.bitmart.channel import BitMartChannel

        return BitMartChannel(config.ws_url, Keys.of(config.credentials), symbols,
                              config.max_frame)


VENUE = BitMart()
