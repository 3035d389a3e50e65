"""Configuration: built-in defaults < TOML file < `TRACKER_*` environment < flags.

Every setting is checked at start; a bad one stops the daemon with one line naming it
(exit code 78), and so does a `TRACKER_*` variable that is no setting: a typo would otherwise
leave the default in force without a word. Credentials never come from the command line,
where `ps` would show them.

The table has the core's rows (`Config`) and the chosen venue's own (its `settings`, held
as `Config.venue_settings`); both are written flat, in one file or environment, as before.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tracker import venues
from tracker.credentials import Credentials
from tracker.identity import Consent, Identity, fingerprint
from tracker.settings import ConfigError, setting
from tracker.venue import Venue

VENUES = {name: venues.get(name) for name in venues.NAMES}
# Every venue's credential names, in the order its settings name them (TRACKER_API_KEY...).
CREDENTIAL_NAMES = tuple(dict.fromkeys(n for v in VENUES.values() for n in v.credential_names))
# libpq's URL prefixes: a `db` that starts with one is a PostgreSQL database, not a path.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# Anything written `scheme://...`: a `db` of that shape is a URL, never a file path.
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# libpq's keyword/value connection strings begin `keyword=`; what they may hold (a
# password=...) must not become a file name.
LIBPQ_KEYWORD = re.compile(r"\s*(host|hostaddr|port|dbname|user|password|passfile|service|"
                           r"sslmode|options|application_name|connect_timeout)\s*=")
DB_PASSWORD = "db_password"  # a secret like the API's: a file, a credential, or the variable
ACCOUNT = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class Config:
    """The settings table: each field is a setting (name, type, default, range, help). It
    gives the `TRACKER_*` names, the checks and docs/configuration.md's table, so none
    of them can drift from the others."""

    venue: str = setting(venues.NAMES[0], "the exchange: `bitmart`, `binance` (Binance "
                         "Spot) or `okx` (OKX spot); each one's own settings are the rows "
                         "below marked with its name", choices=venues.NAMES)
    rest_url: str = setting("", "REST base URL", shown="the venue's (BitMart: "
                            "`https://openapi.bitmart.com` for v2, "
                            "`https://api-cloud.bitmart.com` for v4; Binance: "
                            "`https://api.binance.com`; OKX: `https://openapi.okx.com`; or "
                            "as `environment` says)")
    ws_url: str = setting("", "private WebSocket", shown="the venue's (BitMart: "
                          "`wss://ws-manager-compress.bitmart.com/user?protocol=1.1`; Binance: "
                          "`wss://ws-api.binance.com:443/ws-api/v3`; OKX: "
                          "`wss://ws.okx.com:8443/ws/v5/private`; or as `environment` says)")
    symbols: tuple[str, ...] | None = setting(
        (), "e.g. `[\"BTC_USDT\", \"ETH_USDT\"]`, any number (past 100, one `ALL_SYMBOLS` "
        "subscription, filtered: see [how it stays exact](how-it-stays-exact.md)); with "
        "`v4`, `\"*\"` means every symbol (one `ALL_SYMBOLS` subscription, unfiltered); "
        "Binance writes them `BTCUSDT` and OKX `BTC-USDT`, and `\"*\"` is every symbol "
        "on both",
        shown="none (required)")  # None: every symbol (v4 only)
    db: Path | str = setting(
        Path("tracker.db"), "the book: an SQLite file's path, or a PostgreSQL URL "
        "(`postgresql://user@host/dbname?sslmode=verify-full`, any libpq connection URL; "
        "the password from `.pgpass`, `TRACKER_DB_PASSWORD_FILE` or the systemd credential "
        "`db_password`: see [PostgreSQL](postgres.md))",
        shown="`$STATE_DIRECTORY/orders.db`, else `tracker.db`")
    account: str = setting(
        "", "PostgreSQL only, and required there: the name this account's rows carry in the "
        "shared book (1-64 of `A-Za-z0-9._-`); one tracker writes each account",
        shown="none")
    page_size: int = setting(100, "rows per seed page (v2: 1-1000, v4: 1-200, OKX: 1-100; "
                            "Binance answers in one piece and has no pages)")
    rest_timeout: float = setting(
        10.0, "seconds for one whole exchange call, from connect to the answer's last byte, "
        "however slowly the bytes come (past it: log `rest_deadline`, "
        "`tracker_rest_errors_total{kind=\"deadline\"}`)", above=0)
    rest_retries: int = setting(4, "failed exchange calls are retried this many times, "
                                "backing off with full jitter")
    rest_max_bytes: int = setting(
        16 << 20, "an exchange answer whose body (decoded) is larger is refused, from its "
        "`Content-Length` or once that many bytes arrived (log `rest_too_large`, "
        "`tracker_rest_errors_total{kind=\"too_large\"}`), and retried like any failed call",
        above=0)
    seed_timeout: float = setting(
        300.0, "seconds for one symbol's whole seed, every page of every pass; past it the "
        "seed is abandoned (log `seed_deadline`, `tracker_seed_deadlines_total`) and the "
        "splice is tried again", above=0)
    ping_interval: float = setting(10.0, "seconds between keep-alive pings: the venue's text "
                                   "`ping`, or a WebSocket ping where the venue pings the "
                                   "client itself (Binance); under the venue's idle cut "
                                   "(BitMart's 20 s, Binance's 60 s)", above=0)
    silence_timeout: float = setting(20.0, "reconnect when nothing arrives for this long; where "
                                     "the venue pings the client itself, when a WebSocket ping "
                                     "has no answer for this long (a quiet link is kept)",
                                     above=0)
    backoff_initial: float = setting(0.5, "first reconnect back-off, exponential with full "
                                     "jitter")
    backoff_max: float = setting(30.0, "longest reconnect back-off")
    auth_backoff: float = setting(60.0, "wait after the exchange refuses the credentials "
                                  "(no tight retry loop)")
    grace_period: float = setting(3.0, "seconds before asking the exchange about a vanished "
                                  "order (REST lags)")
    resolve_retry_max: float = setting(60.0, "longest wait between two questions about an "
                                       "unresolved order")
    forgotten_after: float = setting(
        300.0, "on a venue that forgets unfilled cancels (BitMart v4): an unfilled order gone "
        "from the open set that the order lookup has not known for this long is recorded "
        "`canceled` (source `inferred_v4` on BitMart, which keeps unfilled cancels for about "
        "20 minutes only, and keeps every order with a fill; `inferred_archived` on Binance, "
        "which archives unfilled cancels and expiries after 90 days: see "
        "[Binance](binance.md))")
    reconcile_interval: float = setting(900.0, "a full re-seed while live, to catch a push "
                                        "the exchange never delivered; `0` turns it off")
    closed_in_memory: float = setting(
        30.0, "seconds a closed order stays in memory after its last change; then only the "
        "book holds it, and a late word from the exchange about it (rare) reads its row back "
        "first: what the daemon holds stays the size of the open set, however long it runs "
        "(a pushed repeat of a close comes within seconds)", above=0)
    journal_keep_days: float = setting(
        0.0, "journal rows received longer ago than this are deleted, oldest first, a few "
        "thousand a second at most; every splice journals each open order, so a "
        "long-running book wants a limit (the shipped `tracker.toml` keeps 30 days)",
        shown="`0` (keep all)", high=36500, why="0 keeps every row")
    max_frame: int = setting(1 << 20, "a frame that inflates past this many bytes is refused")
    queue_max: int = setting(
        100_000, "events waiting for the writer at most: while the book cannot be written (a "
        "full disk, another process holding the write lock) pushes queue up to this many; "
        "past it they are dropped (`tracker_events_dropped_total`), the book is not live, "
        "and once writes succeed a new splice reads the exchange again", above=0)
    stop_timeout: float = setting(
        10.0, "SIGTERM and SIGINT write what is queued for at most this long; when the book "
        "cannot be written the daemon still exits (code 74, `stop_unwritten` says how many "
        "journal rows it lacks, which the next start's splice reads again from the "
        "exchange) within this (a commit never waits for another process's write lock; "
        "it fails and is retried): keep it under systemd's `TimeoutStopSec` (20 s)", above=0)
    allow_insecure: bool = setting(False, "plain `http://`/`ws://` is refused except to "
                                   "loopback unless this is true")
    metrics_port: int = setting(0, "Prometheus `/metrics` on 127.0.0.1", shown="`0` (off)",
                                high=65535)
    log_level: str = setting("info", "`debug`, `info`, `warning` or `error`",
                             choices=("debug", "info", "warning", "error"))
    log_format: str = setting("auto", "`auto`, `json` or `console`; `auto`: JSON lines unless "
                              "stderr is a terminal",
                              choices=("auto", "json", "console"))
    # The venue's own settings (its `settings` dataclass), filled by `load`.
    venue_settings: Any = field(default_factory=lambda: VENUES[venues.NAMES[0]].settings())
    credentials: Credentials = field(default_factory=Credentials, repr=False)
    # What this start may change in the book's identity: `tracker run`'s flags, no setting
    # (a setting would stay in force for every later start).
    consent: Consent = field(default_factory=Consent)

    @property
    def all_symbols(self) -> bool:
        return self.symbols is None

    @property
    def identity(self) -> Identity:
        """What the book this tracker writes must be a book of (`tracker.identity`)."""
        return Identity(self.venue, fingerprint(self.adapter.account_key(self.credentials)),
                        None if self.symbols is None else frozenset(self.symbols))

    @property
    def adapter(self) -> Venue:
        """The venue's package as the core sees it (`tracker.venue.Venue`): `venue` names
        it, this is it."""
        return VENUES[self.venue]


def check_symbol(flag: str, symbol: str) -> None:
    """A symbol a reader asks for, as some venue writes it: a reader does not know which
    venue wrote the book."""
    if not any(v.symbol.fullmatch(symbol) for v in VENUES.values()):
        first = VENUES[venues.NAMES[0]]
        raise ConfigError(f"{flag}: {symbol!r} is not a {first.symbol_form} symbol "
                          f"(e.g. {first.symbol_example})")


def _rows(table: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(table) if f.metadata}


FIELDS = _rows(Config)
# Each venue's own rows, and which venues a name belongs to (several may have a row of the
# same name, as Binance and OKX have `environment`: each checks its own).
VENUE_FIELDS = {name: _rows(v.settings) for name, v in VENUES.items()}
OWNERS = {n: tuple(v for v, rows in VENUE_FIELDS.items() if n in rows)
          for rows in VENUE_FIELDS.values() for n in rows}
ALL_FIELDS = FIELDS | {n: f for rows in VENUE_FIELDS.values() for n, f in rows.items()}
FLOATS = {n for n, f in ALL_FIELDS.items() if f.type == "float"}
INTS = {n for n, f in ALL_FIELDS.items() if f.type == "int"}
# `TRACKER_*` variables that are read but are no setting, so never refused as unknown.
OTHER_VARIABLES = frozenset({
    "TRACKER_CONFIG",
    *(f"TRACKER_{n.upper()}{suffix}" for n in (*CREDENTIAL_NAMES, DB_PASSWORD)
      for suffix in ("", "_FILE")),
    # `tracker sim`'s account, often exported beside the tracker's own in a demo shell
    "TRACKER_SIM_API_KEY", "TRACKER_SIM_API_SECRET", "TRACKER_SIM_API_MEMO",
    "TRACKER_IT_CACHE",  # .ci/: where the integration checks keep their machine images
})
KNOWN_VARIABLES = OTHER_VARIABLES | {f"TRACKER_{n.upper()}" for n in ALL_FIELDS}


def _suggest(name: str, known: Iterable[str], prefix: str = "") -> str:
    """' (did you mean X?)' for a near miss. The shared prefix is left out of the likeness,
    or every `TRACKER_*` name would look close to every other."""
    bare = {k.removeprefix(prefix): k for k in known}
    close = difflib.get_close_matches(name.removeprefix(prefix), bare, n=1, cutoff=0.7)
    return f" (did you mean {bare[close[0]]}?)" if close else ""


def check_environment(env: Mapping[str, str]) -> None:
    unknown = sorted(k for k in env if k.startswith("TRACKER_") and k not in KNOWN_VARIABLES)
    if unknown:
        names = ", ".join(k + _suggest(k, KNOWN_VARIABLES, "TRACKER_") for k in unknown)
        raise ConfigError(f"{names}: unknown environment variable"
                          f"{'s' if len(unknown) > 1 else ''}; the settings are in the "
                          "table of docs/configuration.md")


def _coerce(name: str, value: Any, origin: str, venue: Venue | None = None) -> Any:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"{name} ({origin}): {why}, got {value!r:.60}")

    if name in FLOATS:
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise bad("expected a number") from None
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(
                number) or number < 0:
            raise bad("expected a finite number >= 0")
        return float(number)
    if name in INTS:
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad("expected a whole number >= 0")
        return value
    if name == "allow_insecure":
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        if not isinstance(value, bool):
            raise bad("expected true or false")
        return value
    if name == "symbols":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(s, str) for s in items):
            raise bad("expected a list of symbols")
        names = [s.strip().upper() for s in items if s.strip()]
        if names in (["*"], ["ALL"]):
            return None
        venue = venue or VENUES[venues.NAMES[0]]
        wrong = [s for s in names if not venue.symbol.fullmatch(s)]
        if wrong:
            raise ConfigError(f"{name} ({origin}): {wrong[0]!r} is not a {venue.symbol_form} "
                              f"symbol (e.g. {venue.symbol_example})")
        return tuple(dict.fromkeys(names))
    if name == "db":
        if not isinstance(value, str | Path) or not str(value):
            raise bad("expected a file path or a PostgreSQL URL")
        return _db(str(value), origin) if isinstance(value, str) else value
    if name == "account":
        if not isinstance(value, str) or not ACCOUNT.fullmatch(value):
            raise bad("expected 1-64 of A-Za-z0-9._-")
        return value
    if not isinstance(value, str):
        raise bad("expected a string")
    return value


def postgres_url(value: str) -> str | None:
    """`value` as libpq reads a PostgreSQL URL, its scheme in lower case; None when it is
    not one."""
    scheme = SCHEME.match(value)
    if scheme is None or scheme[0].lower() not in POSTGRES_SCHEMES:
        return None
    return scheme[0].lower() + value[scheme.end():]


def _db(value: str, origin: str) -> Path | str:
    """A file path, or a PostgreSQL URL kept as written but for its scheme, which libpq
    reads in lower case only (a URL stays a string: Path() would fold its `//`). What is
    neither is refused without being echoed, since it may hold a password."""
    scheme = SCHEME.match(value)
    if scheme is not None:
        url = postgres_url(value)
        if url is None:
            raise ConfigError(f"db ({origin}): {scheme[0]!r} is not a PostgreSQL URL "
                              "(postgresql:// or postgres://) and a file path has no scheme")
        return url
    if LIBPQ_KEYWORD.match(value):
        raise ConfigError(f"db ({origin}): a libpq keyword string (host=... dbname=...) is "
                          "not taken: write it as a URL, postgresql://USER@HOST:PORT/DBNAME, "
                          "with the password in ~/.pgpass or TRACKER_DB_PASSWORD_FILE")
    return Path(value)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    unknown = data.keys() - ALL_FIELDS.keys()
    if unknown:
        name = sorted(unknown)[0]
        hint = _suggest(repr(name), map(repr, ALL_FIELDS))
        raise ConfigError(f"config file {path}: unknown setting {name!r}{hint}")
    return data


def secret(name: str, env: Mapping[str, str]) -> str:
    """`$CREDENTIALS_DIRECTORY/name` > `TRACKER_NAME_FILE` > `TRACKER_NAME`."""
    upper = f"TRACKER_{name.upper()}"
    directory = env.get("CREDENTIALS_DIRECTORY")
    path = Path(directory) / name if directory else None
    if path is None or not path.exists():
        path = Path(env[f"{upper}_FILE"]) if env.get(f"{upper}_FILE") else None
    if path is None:
        return env.get(upper, "").strip()
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:  # its bytes are the secret's: none of them in the message
        raise ConfigError(f"{name}: {path} is not UTF-8 text; write the secret as text, "
                          "without a byte-order mark of another encoding") from None


def _check_url(name: str, url: str, schemes: tuple[str, str], allow_insecure: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{name}: expected a {' or '.join(s + '://' for s in schemes)} "
                          f"URL, got {url!r}")
    if parts.scheme == schemes[0] and not allow_insecure and not _loopback(parts.hostname):
        raise ConfigError(f"{name}: plain {schemes[0]}:// to {parts.hostname} would send "
                          "credentials unencrypted; use TLS or set allow_insecure = true")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load(path: Path | None, env: Mapping[str, str], flags: Mapping[str, Any]) -> Config:
    check_environment(env)
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    path = path or (Path(env["TRACKER_CONFIG"]) if env.get("TRACKER_CONFIG") else None)
    if path is not None:
        for name, value in _read_toml(path).items():
            values[name], origins[name] = value, f"in {path}"
    if "STATE_DIRECTORY" in env:
        values.setdefault("db", Path(env["STATE_DIRECTORY"].split(":")[0]) / "orders.db")
    for name in ALL_FIELDS:
        key = f"TRACKER_{name.upper()}"
        if key in env:
            values[name], origins[name] = env[key], f"from {key}"
    for name, value in flags.items():
        if value is not None:
            values[name], origins[name] = value, f"from --{name.replace('_', '-')}"
    venue_name = _coerce("venue", values.get("venue", Config.venue), origins.get(
        "venue", "default"))
    if venue_name not in VENUES:
        raise ConfigError(f"venue ({origins.get('venue', 'default')}): expected one of "
                          f"{', '.join(VENUES)}, got {venue_name!r}")
    venue = VENUES[venue_name]
    coerced = {n: _coerce(n, v, origins.get(n, "default"), venue) for n, v in values.items()}
    foreign = sorted(n for n in coerced if venue.name not in OWNERS.get(n, (venue.name,)))
    if foreign:
        owner = " and ".join(VENUES[v].title for v in OWNERS[foreign[0]])
        raise ConfigError(f"{foreign[0]} ({origins[foreign[0]]}): a setting of {owner}, not "
                          f"of {venue.title} (venue = {venue.name!r})")
    own = VENUE_FIELDS[venue.name]
    own_settings = venue.settings(**{n: v for n, v in coerced.items() if n in own})
    config = dataclasses.replace(Config(), venue_settings=own_settings,
                                 **{n: v for n, v in coerced.items() if n in FIELDS})
    return validate(config, env)


def validate(config: Config, env: Mapping[str, str]) -> Config:
    _check_ranges(config)
    venue = config.adapter
    _check_ranges(config.venue_settings)
    rest_default, ws_default = venue.defaults(config.venue_settings)
    config = dataclasses.replace(config, rest_url=(config.rest_url or rest_default).rstrip("/"),
                                 ws_url=config.ws_url or ws_default)
    _check_url("rest_url", config.rest_url, ("http", "https"), config.allow_insecure)
    _check_url("ws_url", config.ws_url, ("ws", "wss"), config.allow_insecure)
    if config.ping_interval >= venue.idle_cut_s:
        raise ConfigError(f"ping_interval: must be below {venue.idle_cut_s:g}, or "
                          f"{venue.title} drops the link, got {config.ping_interval:g}")
    secrets = {n: secret(n, env) for n in venue.credential_names}
    # All at once: a first start lacks several, and one per attempt is a slow way to learn.
    credentials = [n for n, v in secrets.items() if not v]
    how = [f"{', '.join(f'TRACKER_{n.upper()}' for n in credentials)} (or ..._FILE, "
           f"or a systemd credential {', '.join(credentials)})"] if credentials else []
    if config.symbols == ():
        credentials.insert(0, "symbols")
        how.insert(0, "symbols (in the file, TRACKER_SYMBOLS or --symbols)")
    if credentials:
        raise ConfigError(f"{', '.join(credentials)}: missing; set {', and '.join(how)}")
    # The venue checks the credentials too (the type of a key against its secret).
    config = dataclasses.replace(config, credentials=Credentials(secrets))
    venue.check(config)
    postgres = is_url(config.db)
    if postgres and not config.account:
        raise ConfigError("account: missing; a PostgreSQL book is shared by accounts: set "
                          "account (in the file, TRACKER_ACCOUNT or --account)")
    if config.account and not postgres:
        raise ConfigError(f"account: {config.account!r} is set, but db is an SQLite file, "
                          "which holds one account: set db to a PostgreSQL URL, or unset "
                          "account")
    if config.silence_timeout <= config.ping_interval:
        # A quiet account hears nothing but pongs: it would reconnect (and re-seed) forever.
        raise ConfigError(f"silence_timeout: must be greater than ping_interval "
                          f"({config.ping_interval:g} s), got {config.silence_timeout:g}")
    return config


def _check_ranges(config: Any) -> None:
    """Each setting against its row of the table (the core's, or a venue's): choices, then
    bounds."""
    for f in dataclasses.fields(config):
        meta, value = f.metadata, getattr(config, f.name)
        if not meta:
            continue
        why = f", {meta['why']}" if meta["why"] else ""
        if meta["choices"] and value not in meta["choices"]:
            *rest, last = meta["choices"]
            expected = f"{', '.join(rest)} or {last}" if rest else last
            raise ConfigError(f"{f.name}: expected {expected}, got {value!r}")
        low, high = meta["low"], meta["high"]
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = (f"between {low if low is not None else 0} and {high}"
                      if high is not None else f"at least {low}")
            raise ConfigError(f"{f.name}: must be {bounds}{why}, got {value:g}")
        if meta["above"] is not None and value <= meta["above"]:
            raise ConfigError(f"{f.name}: must be greater than {meta['above']}")
        if meta["below"] is not None and value >= meta["below"]:
            raise ConfigError(f"{f.name}: must be below {meta['below']}{why}, got {value:g}")


def choices(name: str) -> tuple[str, ...]:
    """A setting's allowed values, as the table gives them (for the command line's flags)."""
    return ALL_FIELDS[name].metadata["choices"]


def settings_table() -> str:
    """docs/configuration.md's table of settings, made from the settings tables themselves: the
    core's rows, then each venue's, marked with its name."""
    lines = ["| setting | default | meaning |", "|---|---|---|"]
    tables = [("", Config), *((f"{v.title}: ", v.settings) for v in VENUES.values())]
    for mark, table in tables:
        for f in dataclasses.fields(table):
            if not f.metadata:
                continue
            shown = f.metadata["shown"] or f"`{_toml(f.default)}`"
            lines.append(f"| `{f.name}` | {shown} | {mark}{f.metadata['help']} |")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def is_url(db: Path | str) -> bool:
    """Whether `db` names a PostgreSQL database rather than an SQLite file: the one rule
    `tracker.backends.choose` and these settings' checks both follow."""
    return str(db).startswith(POSTGRES_SCHEMES)


def db_target(path: Path | None, env: Mapping[str, str], flag: str | None) -> Path | str:
    """Where the book is, for the commands that need no credentials: an SQLite path, or a
    PostgreSQL URL kept as written."""
    return _file_or_env("db", path, env, flag) or Config().db


def account_of(path: Path | None, env: Mapping[str, str], flag: str | None) -> str | None:
    """The account a reader of a PostgreSQL book looks at, where one is set."""
    return _file_or_env("account", path, env, flag)


def _file_or_env(name: str, path: Path | None, env: Mapping[str, str],
                 flag: str | None) -> Any:
    """One setting as `load` finds it (flag > environment > file > systemd's
    STATE_DIRECTORY for db), without the rest of the configuration a reader does not need."""
    check_environment(env)
    key = f"TRACKER_{name.upper()}"
    if flag:
        return _coerce(name, flag, f"from --{name}")
    if env.get(key):
        return _coerce(name, env[key], f"from {key}")
    path = path or (Path(env["TRACKER_CONFIG"]) if env.get("TRACKER_CONFIG") else None)
    if path is not None:
        value = _read_toml(path).get(name)
        if value is not None:
            return _coerce(name, value, f"in {path}")
    if name == "db" and env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0]) / "orders.db"
    return None
