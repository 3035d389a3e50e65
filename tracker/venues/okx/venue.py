"""OKX spot as the core sees it (`tracker.venue.Venue`): its settings (live or demo), its
three-part key (key, secret, passphrase), the seed and lookups of API v5 and the private
WebSocket's `orders` channel (docs/okx.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker.codec import OrderUpdate
from tracker.credentials import Credentials
from tracker.settings import ConfigError, setting
from tracker.venues.okx import codec, protocol

if TYPE_CHECKING:
    from tracker.venue import Channel, Configured, Rest

NAMES = ("api_key", "api_secret", "passphrase")  # the settings' names of the credentials
URLS = {"live": (protocol.REST_URL, protocol.WS_PRIVATE_URL),
        "demo": (protocol.DEMO_REST_URL, protocol.DEMO_WS_PRIVATE_URL)}


@dataclass(frozen=True)
class Settings:
    """OKX's own rows of the settings table."""

    environment: str = setting(
        "live", "which URLs are the default and whether requests are demo trading: "
        f"`live` (`{protocol.REST_URL}`, `{protocol.WS_PRIVATE_URL}`) or `demo` (the same "
        f"REST host with the header `{protocol.SIMULATED_HEADER}: 1`, "
        f"`{protocol.DEMO_WS_PRIVATE_URL}`), which trades without funds, with keys made "
        "there", choices=tuple(URLS))


class Reader:
    """OKX's payloads (`tracker.venue.Codec`). Whether OKX's order lookup still knows an
    order canceled with nothing filled after the 2 hours it keeps such orders in its
    history is not documented (docs/okx.md "Vanished orders"): the session records one that
    the lookup keeps not knowing as canceled, with the source `inferred_forgotten`."""

    order_id = protocol.ORDER_ID
    seed_source = "seed"
    detail_source = "detail"
    inferred_source = "inferred_forgotten"

    def seed_row(self, raw: Any) -> OrderUpdate:
        return codec.from_rest(raw, self.seed_source)

    def detail(self, raw: Any) -> OrderUpdate:
        return codec.from_rest(raw, self.detail_source)

    def push_element(self, raw: Any) -> OrderUpdate:
        return codec.from_push(raw)

    def element_id(self, raw: Any) -> str | None:
        return codec.element_id(raw)


def _keys(config: Configured) -> tuple[str, str, str]:
    c = config.credentials
    return c["api_key"], c["api_secret"], c["passphrase"]


class Okx:
    name = "okx"
    title = "OKX"
    settings = Settings
    credential_names = NAMES
    symbol = protocol.INSTRUMENT
    symbol_form = "BASE-QUOTE"
    symbol_example = "BTC-USDT"
    # OKX cuts a connection that had no data for 30 s and has no ping of its own: the
    # channel's text `ping`, every `ping_interval`, must come within that.
    idle_cut_s = protocol.IDLE_CUT_S

    def defaults(self, settings: Settings) -> tuple[str, str]:
        return URLS[settings.environment]

    def check(self, config: Configured) -> None:
        if not 1 <= config.page_size <= protocol.PAGE_MAX:
            raise ConfigError(f"page_size: must be between 1 and {protocol.PAGE_MAX} for OKX "
                              f"(orders-pending's limit), got {config.page_size}")

    def state_label(self, settings: Settings) -> str:
        return "v5"

    def account_key(self, credentials: Credentials) -> str:
        return credentials["api_key"]

    def rest_lag_s(self, settings: Settings) -> float:
        # OKX documents no lag of its REST reads behind the stream (Binance does).
        return 0.0

    def native_id(self, order_id: str) -> str:
        return order_id  # the book's id is the ordId as is

    def codec(self, settings: Settings) -> Reader:
        return Reader()

    def rest(self, config: Configured) -> Rest:
        from tracker.venues.okx.rest import OkxRest

        own: Settings = config.venue_settings
        api_key, secret, passphrase = _keys(config)
        return OkxRest(config.rest_url, api_key, secret, passphrase, symbols=config.symbols,
                       demo=own.environment == "demo", page_size=config.page_size,
                       timeout=config.rest_timeout, retries=config.rest_retries,
                       max_bytes=config.rest_max_bytes)

    def channel(self, config: Configured, symbols: list[str] | None) -> Channel:
        from tracker.venues.okx.channel import OkxChannel

        api_key, secret, passphrase = _keys(config)
        return OkxChannel(config.ws_url, api_key, secret, passphrase, symbols,
                          max_frame=config.max_frame)


VENUE = Okx()
