"""Binance Spot as the core sees it (`tracker.venue.Venue`): its own settings, its key
(HMAC, RSA or Ed25519), the REST seed and lookups of `/api/v3`, and the user data stream
on the WebSocket API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker.codec import OrderUpdate
from tracker.credentials import Credentials
from tracker.settings import ConfigError, setting
from tracker.venues.binance import codec, protocol
from tracker.venues.binance.signing import KEY_TYPES, BadKey, Signer, signer

if TYPE_CHECKING:
    from tracker.venue import Channel, Configured, Rest

NAMES = ("api_key", "api_secret")  # the settings' names of the credentials
URLS = {"live": (protocol.REST_URL, protocol.WS_API_URL),
        "demo": (protocol.DEMO_REST_URL, protocol.DEMO_WS_API_URL),
        "testnet": (protocol.TESTNET_REST_URL, protocol.TESTNET_WS_API_URL)}


@dataclass(frozen=True)
class Settings:
    """Binance's own rows of the settings table."""

    environment: str = setting(
        "live", "Binance: which URLs are the default: `live` (`https://api.binance.com`, "
        "`wss://ws-api.binance.com:443/ws-api/v3`), `demo` (Demo Mode, "
        "`https://demo-api.binance.com`, `wss://demo-ws-api.binance.com/ws-api/v3`) or "
        "`testnet` (`https://testnet.binance.vision`, "
        "`wss://ws-api.testnet.binance.vision/ws-api/v3`); the last two trade without funds, "
        "with keys made there", choices=tuple(URLS))
    key_type: str = setting(
        "auto", "Binance: the API key's type, `auto` (read from `api_secret`: a PEM private "
        "key is RSA or Ed25519, anything else an HMAC secret), `hmac`, `rsa` or `ed25519`; "
        "a secret of another type is refused at start", choices=("auto", *KEY_TYPES))
    ws_auth: str = setting(
        "signature", "Binance: how the user data stream is subscribed: `signature` "
        "(`userDataStream.subscribe.signature`, any key type) or `logon` (`session.logon` "
        "then `userDataStream.subscribe`, Ed25519 keys only)",
        choices=("signature", "logon"))
    recv_window_ms: int = setting(
        protocol.RECV_WINDOW_MS, "Binance: `recvWindow` of every signed request: how many "
        "ms after its `timestamp` Binance still takes it", low=1,
        high=protocol.RECV_WINDOW_MAX_MS, why="Binance's maximum")
    rest_lag_ms: int = setting(
        1000, "Binance: how far its REST reads may trail the stream (\"Memory => Database\", "
        "lag unquantified): a splice reads the open orders this long after subscribing, so "
        "an order closed just before is not seeded open with no event left to close it",
        low=0, high=60_000, why="a splice waits this long")
    connection_max_age_s: float = setting(
        protocol.MAX_CONNECTION_AGE_S, "Binance: the age at which Binance cuts a WebSocket API "
        "connection (24 h); the tracker subscribes a new one shortly before and lets the old "
        "one go, with no moment not live. Lower it only to see that happen",
        above=0, shown="86400 (24 h)")
    weight_budget: int = setting(
        5400, "Binance: the request weight a minute (`X-MBX-USED-WEIGHT-1M`, counted per IP) "
        "the tracker's calls may bring the IP to; it waits for the next minute rather than "
        "pass it. Binance's limit is 6000; lower this when other programs share the IP",
        low=protocol.OPEN_ORDERS_WEIGHT_ALL, high=protocol.WEIGHT_PER_MINUTE,
        why="one seed of every symbol costs 80 and Binance allows 6000")


class Reader:
    """Binance's payloads (`tracker.venue.Codec`). An order that is canceled or expired
    with nothing filled is archived after 90 days and then answered with -2026 ([BN]
    errors.md): the session records one that the lookup keeps not knowing as canceled,
    with the source `inferred_archived`."""

    order_id = codec.BOOK_ORDER_ID
    seed_source = codec.SEED_SOURCE
    detail_source = "detail"
    inferred_source = "inferred_archived"

    def seed_row(self, raw: Any) -> OrderUpdate:
        return codec.from_rest(raw, self.seed_source)

    def detail(self, raw: Any) -> OrderUpdate:
        return codec.from_rest(raw, self.detail_source)

    def push_element(self, raw: Any) -> OrderUpdate:
        return codec.from_event(raw)

    def element_id(self, raw: Any) -> str | None:
        if not isinstance(raw, dict):
            return None
        symbol, order_id = raw.get("s"), raw.get("i")
        if (isinstance(symbol, str) and codec.SYMBOL.fullmatch(symbol)
                and isinstance(order_id, int) and not isinstance(order_id, bool)
                and 0 <= order_id < 10 ** 20):
            return protocol.book_order_id(symbol, order_id)
        return None


def key_of(config: Configured) -> tuple[str, Signer]:
    """The API key and the signer of the secret, of the type `key_type` says."""
    own: Settings = config.venue_settings
    secret = config.credentials["api_secret"]
    try:
        return (config.credentials["api_key"],
                signer(secret, None if own.key_type == "auto" else own.key_type))
    except BadKey as exc:
        raise ConfigError(f"api_secret: {exc}") from None


class Binance:
    name = "binance"
    title = "Binance"
    settings = Settings
    credential_names = NAMES
    symbol = codec.SYMBOL
    symbol_form = "BASEQUOTE"
    symbol_example = "BTCUSDT"
    # Binance does not cut a connection for quiet: it pings every 20 s and cuts one that
    # has not answered (pong) for a minute ([BN] web-socket-api.md). The websockets library
    # answers those pings; the core's own protocol pings, every `ping_interval`, tell a dead
    # link from a quiet one, and must come well within that minute to mean anything.
    idle_cut_s = protocol.PONG_WITHIN_S

    def defaults(self, settings: Settings) -> tuple[str, str]:
        return URLS[settings.environment]

    def check(self, config: Configured) -> None:
        _, key = key_of(config)
        if config.venue_settings.ws_auth == "logon" and key.kind != "ed25519":
            raise ConfigError(f"ws_auth: logon (session.logon) takes Ed25519 keys only, and "
                              f"api_secret is an {key.kind.upper()} key: use ws_auth = "
                              "\"signature\"")

    def state_label(self, settings: Settings) -> str:
        return "v3"

    def account_key(self, credentials: Credentials) -> str:
        return credentials["api_key"]

    def rest_lag_s(self, settings: Settings) -> float:
        return settings.rest_lag_ms / 1000

    def native_id(self, order_id: str) -> str:
        return protocol.split_order_id(order_id)[1]

    def codec(self, settings: Settings) -> Reader:
        return Reader()

    def rest(self, config: Configured) -> Rest:
        from tracker.venues.binance.rest import BinanceRest

        own: Settings = config.venue_settings
        api_key, key = key_of(config)
        return BinanceRest(config.rest_url, api_key, key, symbols=config.symbols,
                           recv_window_ms=own.recv_window_ms,
                           weight_budget=own.weight_budget, timeout=config.rest_timeout,
                           retries=config.rest_retries, max_bytes=config.rest_max_bytes)

    def channel(self, config: Configured, symbols: list[str] | None) -> Channel:
        from tracker.venues.binance.channel import BinanceChannel

        own: Settings = config.venue_settings
        api_key, key = key_of(config)
        return BinanceChannel(config.ws_url, api_key, key, symbols, logon=own.ws_auth == "logon",
                              recv_window_ms=own.recv_window_ms, max_frame=config.max_frame,
                              max_age_s=own.connection_max_age_s)


VENUE = Binance()
