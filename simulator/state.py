"""The simulator's state: its settings, its accounts (each with its own order store, flow,
session tokens and push subscribers), its faults and its open connections, held by one
object that every face and the control API are handed; and what the core asks of a face
and of a connection (`Face`, `Connection`).

It lives below the faces and the control API and imports none of them, so the faces can
share it and `app` can install them without an import circle.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from simulator.burst import Load, LoadPush
from simulator.faults import Faults
from simulator.flow import DEFAULT_MIX, OrderFlow
from simulator.store import (
    DEFAULT_SYMBOLS,
    Ids,
    OrderChange,
    OrderStore,
    SimOrder,
    SymbolSpec,
)


@dataclass(frozen=True)
class Account:
    api_key: str
    secret: str
    memo: str
    # The public half (PEM) of an RSA or Ed25519 key pair, for the venues that take one
    # (Binance): with it, the account's signatures there are checked against this key
    # instead of the HMAC secret.
    public_key: str = ""
    # OKX's third secret (`OK-ACCESS-PASSPHRASE`, the login's `passphrase`): chosen with the
    # key, checked by OKX's face. Left out of repr, as it must never reach a log.
    passphrase: str = field(default="", repr=False)


# The credentials of the published v2 signing example (protocol §1.2): a client can check
# its own signing against the documented digest before it ever talks to the simulator.
DEMO_ACCOUNT = Account(
    api_key="6591f7c2491db0a23a1d8ad6911c825e",
    secret="8c08d9d5c3d15b105dbddaf96e427ac6",
    memo="mymemo",
    passphrase="mypassphrase",  # OKX's face: the simulator's own, OKX publishes none
)

# The name of the one account a simulator serves when it is given no list of accounts.
DEFAULT_ACCOUNT_NAME = "default"
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class AccountSettings:
    """One account to serve: its name (how the control API names it), its credentials,
    and what differs from the simulator's own settings (None: the simulator's)."""

    name: str
    credentials: Account
    symbols: tuple[SymbolSpec, ...] | None = None
    open_orders_per_symbol: int | None = None
    rate: float | None = None


@dataclass
class Settings:
    """Everything `tracker sim` is told. Some fields only one face reads (BitMart's:
    `compress`, the WebSocket timeouts, `v2_rate_limit`, `cancel_retention_s`; Binance's:
    the `binance_*` ones); they are here so that a simulator is described by one value, as
    its command line and the tests build it."""

    host: str = "127.0.0.1"
    port: int = 8080
    seed: int = 0
    symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS
    open_orders_per_symbol: int = 0
    rate: float = 0.0  # order-flow events per second
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    compress: bool = True  # pushes as raw-DEFLATE binary frames; False: plain text frames
    amounts: str = "minimal"  # or "padded": see simulator.truth
    ws_idle_timeout_s: float = 20.0
    ws_lifeless_s: float = 300.0
    v2_rate_limit: int = 100  # v2 calls per second per client
    cancel_retention_s: float = 1200.0  # v4 query/order forgets unfilled cancels after this
    # Binance's face: what stands for its 90-day archive, its per-IP weight limit and ban,
    # its WebSocket API's pings, pong deadline and connection age, and how long a
    # connection lives after a `serverShutdown` event.
    binance_archive_s: float = 90 * 86400.0
    binance_weight_limit: int = 6000  # request weight per IP and minute
    binance_ban_s: float = 120.0
    binance_ping_s: float = 20.0
    binance_pong_timeout_s: float = 60.0
    binance_max_age_s: float = 86400.0
    binance_shutdown_delay_s: float = 5.0
    # OKX's face: its idle cut (no frame from the client for this long: closed, 4004), how
    # long its order detail still finds an unfilled cancel (OKX keeps them 2 hours), the
    # lead of a 64008 notice before the close, and the connections per channel and account.
    okx_idle_timeout_s: float = 30.0
    okx_cancel_retention_s: float = 7200.0
    okx_notice_delay_s: float = 60.0
    okx_channel_conn_limit: int = 30
    account: Account = DEMO_ACCOUNT  # served alone (as "default") when `accounts` is empty
    accounts: tuple[AccountSettings, ...] = ()
    faults: dict[str, Any] = field(default_factory=dict)

    def served(self) -> tuple[AccountSettings, ...]:
        """The accounts to serve: the list given, or `account` alone under the default name."""
        return self.accounts or (AccountSettings(DEFAULT_ACCOUNT_NAME, self.account),)


class AccountsError(ValueError):
    """An accounts file the simulator cannot serve; the message never holds a secret."""


ACCOUNT_FIELDS = {"name", "api_key", "secret", "memo", "public_key", "passphrase", "symbols",
                  "open_orders", "rate"}


def check_public_key(pem: str) -> str | None:
    """Why a public key (PEM) cannot be served, or None: it must be an RSA or Ed25519 one."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        return "public_key is not a PEM public key"
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return "public_key must be an RSA or Ed25519 key"
    return None


def symbol_spec(name: str, known: Iterable[SymbolSpec] = ()) -> SymbolSpec:
    """A symbol's spec: one given, one of the defaults, else a reference price of 100."""
    for spec in (*known, *DEFAULT_SYMBOLS):
        if spec.name == name:
            return spec
    return SymbolSpec(name, Decimal("100.00"), 2, 4)


def valid_symbol(name: str) -> bool:
    return "_" in name and name.replace("_", "").isalnum()


def parse_accounts(entries: Any, known: Iterable[SymbolSpec] = ()
                   ) -> tuple[AccountSettings, ...]:
    """A JSON list of accounts (docs/simulator.md), checked as a whole: names and keys
    unique, every field of the right type, no field the simulator would ignore."""
    known = tuple(known)
    if not isinstance(entries, list) or not entries:
        raise AccountsError("expected a non-empty JSON list of accounts")
    accounts: list[AccountSettings] = []
    for number, entry in enumerate(entries, start=1):
        where = f"account {number}"
        if not isinstance(entry, dict):
            raise AccountsError(f"{where}: expected a JSON object")
        name = entry.get("name")
        if isinstance(name, str) and ACCOUNT_NAME.fullmatch(name):
            where = f"account {number} ({name})"
        else:
            raise AccountsError(f"{where}: name must be 1 to 64 letters, digits, '_', '.', '-'")
        unknown = sorted(set(entry) - ACCOUNT_FIELDS)
        if unknown:
            raise AccountsError(f"{where}: unknown field(s) {', '.join(unknown)}")
        for key in ("api_key", "secret", "memo"):
            value = entry.get(key)
            if not isinstance(value, str) or (key != "memo" and not value):
                raise AccountsError(f"{where}: {key} must be a "
                                    f"{'string' if key == 'memo' else 'non-empty string'}")
        public_key = entry.get("public_key", "")
        if not isinstance(public_key, str):
            raise AccountsError(f"{where}: public_key must be a PEM string")
        passphrase = entry.get("passphrase", "")
        if not isinstance(passphrase, str):
            raise AccountsError(f"{where}: passphrase must be a string")
        problem = check_public_key(public_key) if public_key else None
        if problem is not None:
            raise AccountsError(f"{where}: {problem}")
        symbols = None
        if entry.get("symbols") is not None:
            names = entry["symbols"]
            if isinstance(names, str):
                names = [n.strip() for n in names.split(",") if n.strip()]
            if not isinstance(names, list) or not names or not all(
                    isinstance(n, str) and valid_symbol(n) for n in names) \
                    or len(set(names)) != len(names):
                raise AccountsError(f"{where}: symbols must be distinct BASE_QUOTE names")
            symbols = tuple(symbol_spec(n, known) for n in names)
        open_orders = entry.get("open_orders")
        if open_orders is not None and (isinstance(open_orders, bool) or not isinstance(
                open_orders, int) or open_orders < 0):
            raise AccountsError(f"{where}: open_orders must be an integer >= 0")
        rate = entry.get("rate")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)
                                 or not 0 <= rate < math.inf):
            raise AccountsError(f"{where}: rate must be a finite number >= 0")
        accounts.append(AccountSettings(
            name, Account(entry["api_key"], entry["secret"], entry["memo"], public_key,
                          passphrase), symbols,
            open_orders, None if rate is None else float(rate)))
    _check_distinct(accounts)
    return tuple(accounts)


def load_accounts(path: Path, known: Iterable[SymbolSpec] = ()) -> tuple[AccountSettings, ...]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountsError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        # The position only: the message of a decoder may quote the text, and it holds secrets.
        raise AccountsError(f"{path} is not JSON (line {exc.lineno}, column {exc.colno})") \
            from None
    return parse_accounts(entries, known)


def _check_distinct(accounts: Iterable[AccountSettings]) -> None:
    names: set[str] = set()
    keys: set[str] = set()
    for account in accounts:
        if account.name in names:
            raise AccountsError(f"two accounts are named {account.name!r}")
        if account.credentials.api_key in keys:
            raise AccountsError(f"account {account.name!r}: its api_key is another account's")
        names.add(account.name)
        keys.add(account.credentials.api_key)


PushSink = Callable[[OrderChange], None]


class UnknownAccount(LookupError):
    pass


class AccountState:
    """One served account: its credentials, its orders and their flow, the session tokens
    issued to it, and the connections logged in with its key that its pushes go to.

    Tokens are kept here, not by the face that issues them, because expiring them early is
    a fault the control API applies to every account (`POST /control/tokens/expire`)."""

    def __init__(self, config: AccountSettings, store: OrderStore, flow: OrderFlow,
                 rate: float) -> None:
        self.name = config.name
        self.credentials = config.credentials
        self.store = store
        self.flow = flow
        self.flow_rate = rate
        self.flow_debt = 0.0  # flow events owed but not yet run (fractions of one)
        self.tokens: dict[str, int] = {}  # session token (BitMart's v2 bearer) -> expiry, server ms
        self.push_sinks: set[PushSink] = set()
        self.store.listeners.append(self._fan_out)

    def _fan_out(self, change: OrderChange) -> None:
        for sink in list(self.push_sinks):
            sink(change)


class Connection(Protocol):
    """A client's WebSocket connection, as the core sees it: enough for control's connection
    faults and the benchmarks' load, so that neither needs the face it came through."""

    ws: web.WebSocketResponse
    peer: str
    logged_in: bool
    face: str  # the name of the face it connected through
    account: AccountState | None  # the account it logged in with
    topics: dict[str, str]  # its subscriptions, each with what its face keeps for it

    def abort(self) -> None: ...

    def send_raw(self, frame: str | bytes) -> None: ...


class Face(Protocol):
    """A venue's face as the core sees it, once `simulator.app` has installed it.

    A face sets up its own routes and state when installed, and reads and changes orders
    only through the accounts' stores; the core asks of it only what it cannot know itself:
    which paths are the venue's REST API, how the venue refuses a call there, and how it
    spells a benchmark load's push."""

    name: str
    rest_prefixes: tuple[str, ...]  # the paths of its REST API, where the REST faults reach
    ws_path: str  # where its WebSocket is served (path and query)

    def symbol(self, name: str) -> str:
        """How the venue writes one of the simulator's symbols (`BTC_USDT`)."""
        ...

    def refusal(self, path: str, status: int) -> web.Response:
        """Its answer to a call the `rest_5xx` (status 500) or `rest_429` (429) fault fails."""
        ...

    def load_frame(self, push: LoadPush) -> str | bytes:
        """The frame its WebSocket would send for that push (called from a worker thread)."""
        ...


class Simulator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.faults = Faults()
        self.faults.update(settings.faults)
        # Separate streams so that switching a fault on does not change the order flow.
        self.fault_rng = random.Random(f"faults:{settings.seed}")
        self.ids = Ids()  # shared: an order id is unique across accounts
        served = settings.served()
        _check_distinct(served)
        self.accounts: dict[str, AccountState] = {}
        for number, config in enumerate(served):
            store = OrderStore(config.symbols or settings.symbols, clock=self.now_ms,
                               ids=self.ids)
            # The first account's flow draws from the stream a one-account simulator always
            # had, so a run without an accounts list replays as it did.
            seed = f"flow:{settings.seed}" if number == 0 else f"flow:{settings.seed}:{config.name}"
            flow = OrderFlow(store, random.Random(seed), dict(settings.mix))
            rate = settings.rate if config.rate is None else config.rate
            self.accounts[config.name] = AccountState(config, store, flow, rate)
        self.default = next(iter(self.accounts.values()))
        self.by_key = {a.credentials.api_key: a for a in self.accounts.values()}
        # Every market any account trades: what the public market lists show.
        self.symbols: dict[str, SymbolSpec] = {}
        for account in self.accounts.values():
            for name, spec in account.store.symbols.items():
                self.symbols.setdefault(name, spec)
        self.injected: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self.faces: dict[str, Face] = {}  # by name, as simulator.app installs them
        self.ws_sessions: set[Connection] = set()
        self.load = Load()  # the benchmarks' burst or pace, if any
        for config, account in zip(served, self.accounts.values(), strict=True):
            per_symbol = config.open_orders_per_symbol
            account.flow.populate(settings.open_orders_per_symbol if per_symbol is None
                                  else per_symbol)

    # The default account's parts, by the names they had when there was only one.
    @property
    def store(self) -> OrderStore:
        return self.default.store

    @property
    def flow(self) -> OrderFlow:
        return self.default.flow

    @property
    def flow_rate(self) -> float:
        return self.default.flow_rate

    @flow_rate.setter
    def flow_rate(self, rate: float) -> None:
        self.default.flow_rate = rate

    def account(self, name: str | None) -> AccountState:
        """The account of that name; None names the default (the first) account."""
        if name is None:
            return self.default
        account = self.accounts.get(name)
        if account is None:
            raise UnknownAccount(f"unknown account {name!r}")
        return account

    def token_account(self, token: str) -> AccountState | None:
        """The account a session token (BitMart's v2 bearer token) was issued to, if any."""
        for account in self.accounts.values():
            if token in account.tokens:
                return account
        return None

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.faults.clock_skew_ms

    def chance(self, probability: float, kind: str) -> bool:
        """Draw one probabilistic fault; count it when it fires."""
        if probability > 0 and self.fault_rng.random() < probability:
            self.injected[kind] += 1
            return True
        return False

    def shift_between_pages(self, account: AccountState, symbol: str | None) -> None:
        """The `page_shift` fault: close the oldest open orders of the account that read
        the page and open as many new ones.

        Run after a list page was cut, so orders a client already read leave the set and the
        rest slide towards the front, which is how page-index pagination skips an order.
        """
        n = self.faults.page_shift
        if not n:
            return
        victims = account.store.open_orders(symbol)[:n]
        for order in victims:
            if self.fault_rng.random() < 0.5:
                account.store.cancel(order.order_id)
            else:
                account.store.fill(order.order_id)
        for _ in range(n):
            account.flow.random_limit(symbol)
        self.injected["page_shift"] += 1

    def lagging(self, order: SimOrder) -> bool:
        """The `rest_lag_ms` fault: a changed order is invisible to detail queries for a while."""
        if self.faults.rest_lag_ms and self.now_ms() - order.update_time < self.faults.rest_lag_ms:
            self.injected["rest_lag"] += 1
            return True
        return False

    def connections(self, account: AccountState | None = None) -> list[Connection]:
        """Every connection, or those logged in with one account."""
        return [c for c in self.ws_sessions if account is None or c.account is account]

    def subscribed(self, account: AccountState | None = None) -> list[Connection]:
        """The connections that hold at least one topic: those a push would reach."""
        return [c for c in self.connections(account) if c.topics]

    async def drop_connections(self, mode: str, code: int, reason: str,
                               account: AccountState | None = None) -> int:
        """The connection faults: `abort` (no close frame) or `close` with a given code; on
        every connection, or on those logged in with one account."""
        connections = self.connections(account)
        for connection in connections:
            if mode == "abort":
                connection.abort()
            else:
                await connection.ws.close(code=code, message=reason.encode())
        self.injected[f"ws_{mode}"] += len(connections)
        return len(connections)

    def send_raw(self, frame: str | bytes, account: AccountState | None = None) -> int:
        """Bad input on demand: the frame goes to every subscribed connection (of one
        account, if given) exactly as given (text as a text frame, bytes as a binary frame,
        neither compressed nor checked)."""
        connections = self.subscribed(account)
        for connection in connections:
            connection.send_raw(frame)
        self.injected["ws_raw_frame"] += len(connections)
        return len(connections)

    async def run_flow(self) -> None:
        """Drive each account's generator at its own rate (events per second), in 10 ms
        ticks."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            now = loop.time()
            elapsed, last = now - last, now
            for account in list(self.accounts.values()):
                account.flow_debt += elapsed * account.flow_rate
                steps = int(account.flow_debt)
                account.flow_debt -= steps
                for _ in range(steps):
                    account.flow.step()


SIM_KEY: web.AppKey[Simulator] = web.AppKey("simulator", Simulator)
