"""What a venue supplies, and nothing more: the one interface between the core (session,
book, stores, readers, feed, daemon, command line) and a venue's package.

A venue is a package under `tracker/venues/` whose `venue` module holds `VENUE`, an object
of the shape `Venue` below; `tracker.venues.get` finds it by the `venue` setting. What
differs between venues is kept to these parts:

- its settings and credentials (`settings`, `credential_names`, `check`), its URLs;
- its payloads decoded to `OrderUpdate` with the fields the merge rule orders by (`Codec`,
  pure: the session holds it), its symbols and order ids as it writes them;
- the seed (`Rest.seed`, built on the venue's pure cursors: requests to make, rows that
  came back, when it is complete) and the order-detail lookup with its "no such order"
  (`NotFound`);
- the private stream's handshake and frame decoding (`Channel`): the core's
  `tracker.exchange.stream.Stream` connects, keeps alive, watches for silence and reconnects;
- its rate limits (inside its `Rest`) and its error taxonomy, mapped onto
  `tracker.exchange.errors` and `tracker.reasons.NotLive`.

None of the venues in view has a sequence number or a snapshot on subscribe, so the splice
(buffer, seed, replay, reconcile, ask about the vanished) is the core's, the same for all.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tracker.codec import OrderUpdate
from tracker.credentials import Credentials

if TYPE_CHECKING:  # the pure session imports this module: no transport at run time
    from tracker.frames import Frame

# What a seed keeps of each row it takes: the session's decoder, so that a large seed never
# holds its raw rows (several times the size of decoded ones) beyond the page they came in.
# It is given a raw row, or the `OrderUpdate` a venue's REST client already made of it
# (a fast path reading a whole answer as the codec reads each row).
Keep = Callable[[Any], Any]
Progress = Callable[[str, int, int], None]  # (symbol, rows so far, rows expected)


@dataclass
class Seed:
    """One symbol's open orders as read (each as `keep` made it), and the ids of orders
    whose presence is uncertain: seen in one pass of a multi-pass read but not the last;
    they may have closed, or the last pass may have skipped them, and the session asks
    about each by id."""

    rows: list[Any] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)
    passes: int = 0


@dataclass(frozen=True)
class Tally:
    """How far a read has come, for a progress display."""

    read: int
    expected: int


class Codec(Protocol):
    """A venue's payloads to updates, for one configuration of it (BitMart's v2 and v4
    REST rows differ). Pure: the session holds it."""

    seed_source: str  # the journal's `source` of seed rows, e.g. "seed_v2"
    detail_source: str  # and of order-detail answers
    # The source of an order recorded canceled because the venue has not known it for
    # `forgotten_after` (a venue that forgets unfilled cancels); None: it never forgets.
    inferred_source: str | None
    order_id: re.Pattern[str]  # an order id as the venue writes it

    def seed_row(self, raw: Any) -> OrderUpdate:
        """A seed page's row, or `Invalid`."""

    def detail(self, raw: Any) -> OrderUpdate:
        """An order-detail answer, or `Invalid`."""

    def push_element(self, raw: Any) -> OrderUpdate:
        """One raw element of a push the fast path did not read whole, or `Invalid`."""

    def element_id(self, raw: Any) -> str | None:
        """The order id a raw push element names, if it names one plausibly."""


class Rest(Protocol):
    """The venue's REST side: the seed and the order-detail lookup, paced to its limits;
    every failure an `tracker.exchange.errors.ExchangeError`."""

    stats: Counter[str]
    skew_ms: int  # the venue's clock minus ours

    async def sync_clock(self) -> None: ...

    async def seed(self, symbol: str | None, progress: Progress | None = None,
                   keep: Keep | None = None) -> Seed:
        """One symbol's open orders (None: every symbol, where the venue can)."""

    async def order_detail(self, order_id: str) -> Any:
        """The venue's answer about one order; `NotFound` when it does not know it."""

    async def markets(self, symbols: list[str] | None) -> dict[str, tuple[str, str]]:
        """Each symbol's (base, quote) as the venue lists them, for those symbols (None:
        every symbol it trades): the book's unified `BASE/QUOTE`, which a reader can query
        across venues."""

    async def aclose(self) -> None: ...


Send = Callable[[str], Awaitable[None]]
Reply = Callable[[], Awaitable[Any]]


class Channel(Protocol):
    """The private stream's venue half. The core's `Stream` opens the socket at `url`, calls
    `open` with a way to send and a way to read the next reply (pushes that come before the
    last reply are kept and reported once the connection is up), then decodes every frame
    with `decode` and sends `ping` when the link has been quiet."""

    url: str
    # The text keep-alive the venue answers, sent every `ping_interval`; None for a venue
    # that pings the client itself (the WebSocket library answers those pings, and the
    # stream's own protocol pings tell a dead link from a quiet one).
    ping: str | None
    # The venue cuts a connection this old (Binance: 24 h); the stream opens and subscribes
    # the next one before that, then lets the old one go. None: no such limit.
    max_age_s: float | None

    async def open(self, send: Send, reply: Reply, skew_ms: int) -> dict[str, Any]:
        """Log in and subscribe; a `StreamError` with its `NotLive` cause when refused.
        Returns what the `stream_up` log line says of the subscription."""

    def decode(self, frame: str | bytes) -> Frame: ...


class Configured(Protocol):
    """What a venue reads of the configuration (`tracker.config.Config`): the core's settings
    it needs, its own (`venue_settings`) and the credentials."""

    venue_settings: Any
    credentials: Credentials
    symbols: tuple[str, ...] | None
    rest_url: str
    ws_url: str
    page_size: int
    rest_timeout: float
    rest_retries: int
    rest_max_bytes: int
    max_frame: int


class Venue(Protocol):
    name: str  # the `venue` setting
    title: str  # as people write it
    settings: type  # a frozen dataclass of the venue's own rows (`tracker.settings.setting`)
    credential_names: tuple[str, ...]  # the secrets it needs, as settings name them
    symbol: re.Pattern[str]  # a symbol as the venue writes it
    symbol_form: str  # how a person would describe it: "BASE_QUOTE"
    symbol_example: str
    idle_cut_s: float  # the venue drops a private connection quiet for this long

    def defaults(self, settings: Any) -> tuple[str, str]:
        """The REST and WebSocket URLs when none are set."""

    def check(self, config: Configured) -> None:
        """What only the venue knows about a whole configuration (a page size within its
        cap, every symbol only where it can read them all); `ConfigError` when wrong."""

    def state_label(self, settings: Any) -> str:
        """What `sync_state.api` says of this configuration."""

    def account_key(self, credentials: Credentials) -> str:
        """The credential that names the exchange account and is no secret (an API key):
        the book records a fingerprint of it (`tracker.identity`), so that a tracker run
        with another account's keys is refused rather than merged into the book."""

    def rest_lag_s(self, settings: Any) -> float:
        """How far the venue's REST reads may trail its stream: a splice reads the open
        orders this long after subscribing (0: they do not trail)."""

    def native_id(self, order_id: str) -> str:
        """The id the venue gave an order, from the book's (which adds what the venue's
        lacks to be unique in an account: Binance's are unique within a symbol only)."""

    def codec(self, settings: Any) -> Codec: ...

    def rest(self, config: Configured) -> Rest: ...

    def channel(self, config: Configured, symbols: list[str] | None) -> Channel: ...
