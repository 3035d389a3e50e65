"""Configuration: built-in defaults < TOML file < `TRACKER_*` environment < flags.

Every setting is checked at start; a bad one stops the daemon with one line naming it
(exit code 78), and so does a `TRACKER_*` variable that is no setting: a typo would otherwise
leave the default in force without a word. Credentials never come from the command line,
where `ps` would show them.
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

from tracker.codec import SYMBOL
from tracker.credentials import Credentials
from tracker.protocol import V2_PAGE_MAX, V4_PAGE_MAX


class ConfigError(Exception):
    """One bad setting, named in the message."""


DEFAULT_URLS = {
    "v2": ("https://openapi.bitmart.com",
           "wss://ws-manager-compress.bitmart.com/user?protocol=1.1"),
    "v4": ("https://api-cloud.bitmart.com",
           "wss://ws-manager-compress.bitmart.com/user?protocol=1.1"),
}
CREDENTIAL_NAMES = ("api_key", "api_secret", "api_memo")


@dataclass(frozen=True)
class Config:
    api: str = "v2"
    rest_url: str = ""
    ws_url: str = ""
    symbols: tuple[str, ...] | None = ()  # None: every symbol (v4 only)
    db: Path = Path("tracker.db")
    page_size: int = 100
    rest_rate: float = 10.0  # v2 calls per second
    rest_timeout: float = 10.0  # one exchange call, from connect to the answer's last byte
    rest_retries: int = 4
    rest_max_bytes: int = 16 << 20  # an answer larger than this is refused
    seed_timeout: float = 300.0  # one symbol's whole seed (every page of every pass)
    seed_passes: int = 4  # v2 pagination passes before settling for uncertain ids
    v4_since_ms: int = 1_514_764_800_000  # 2018-01-01: before any v4 order existed
    ping_interval: float = 10.0
    silence_timeout: float = 20.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    auth_backoff: float = 60.0
    grace_period: float = 3.0  # before asking the exchange about a vanished order
    resolve_retry_max: float = 60.0
    # v4 forgets an order canceled unfilled ~20 min after the cancel: "not found" for this
    # long, about an unfilled order gone from the open set, means exactly that
    forgotten_after: float = 300.0
    reconcile_interval: float = 900.0  # periodic re-seed; 0 turns it off
    journal_keep_days: float = 0.0  # journal rows older than this are deleted; 0 keeps all
    max_frame: int = 1 << 20
    queue_max: int = 100_000  # events waiting for the writer; past it, drop them and re-splice
    stop_timeout: float = 10.0  # SIGTERM to exit, even when the book cannot be written
    allow_insecure: bool = False
    metrics_port: int = 0  # Prometheus /metrics on 127.0.0.1; 0 turns it off
    log_level: str = "info"
    log_format: str = "auto"
    credentials: Credentials = field(default=Credentials("", "", ""), repr=False)

    @property
    def all_symbols(self) -> bool:
        return self.symbols is None


FIELDS = {f.name: f for f in dataclasses.fields(Config) if f.name != "credentials"}
FLOATS = {n for n, f in FIELDS.items() if f.type == "float"}
INTS = {n for n, f in FIELDS.items() if f.type == "int"}
# `TRACKER_*` variables that are read but are no setting, so never refused as unknown.
OTHER_VARIABLES = frozenset({
    "TRACKER_CONFIG",
    *(f"TRACKER_{n.upper()}{suffix}" for n in CREDENTIAL_NAMES for suffix in ("", "_FILE")),
    # `tracker sim`'s account, often exported beside the tracker's own in a demo shell
    "TRACKER_SIM_API_KEY", "TRACKER_SIM_API_SECRET", "TRACKER_SIM_API_MEMO",
    "TRACKER_IT_CACHE",  # .ci/: where the integration checks keep their machine images
})
KNOWN_VARIABLES = OTHER_VARIABLES | {f"TRACKER_{n.upper()}" for n in FIELDS}


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
                          "README's configuration table")


def _coerce(name: str, value: Any, origin: str) -> Any:
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
        wrong = [s for s in names if not SYMBOL.fullmatch(s)]
        if wrong:
            raise ConfigError(f"{name} ({origin}): {wrong[0]!r} is not a BASE_QUOTE symbol "
                              "(e.g. BTC_USDT)")
        return tuple(dict.fromkeys(names))
    if name == "db":
        if not isinstance(value, str | Path) or not str(value):
            raise bad("expected a file path")
        return Path(value)
    if not isinstance(value, str):
        raise bad("expected a string")
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    unknown = data.keys() - FIELDS.keys()
    if unknown:
        name = sorted(unknown)[0]
        hint = _suggest(repr(name), map(repr, FIELDS))
        raise ConfigError(f"config file {path}: unknown setting {name!r}{hint}")
    return data


def _secret(name: str, env: Mapping[str, str]) -> str:
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
    for name in FIELDS:
        key = f"TRACKER_{name.upper()}"
        if key in env:
            values[name], origins[name] = env[key], f"from {key}"
    for name, value in flags.items():
        if value is not None:
            values[name], origins[name] = value, f"from --{name.replace('_', '-')}"
    coerced = {n: _coerce(n, v, origins.get(n, "default")) for n, v in values.items()}
    config = dataclasses.replace(Config(), **coerced)
    return validate(config, env)


def validate(config: Config, env: Mapping[str, str]) -> Config:
    if config.api not in DEFAULT_URLS:
        raise ConfigError(f"api: expected v2 or v4, got {config.api!r}")
    rest_default, ws_default = DEFAULT_URLS[config.api]
    config = dataclasses.replace(config, rest_url=(config.rest_url or rest_default).rstrip("/"),
                                 ws_url=config.ws_url or ws_default)
    _check_url("rest_url", config.rest_url, ("http", "https"), config.allow_insecure)
    _check_url("ws_url", config.ws_url, ("ws", "wss"), config.allow_insecure)
    if config.symbols is None and config.api == "v2":
        raise ConfigError("symbols: the v2 order list needs explicit symbols (\"*\" is v4 only)")
    secrets = {n: _secret(n, env) for n in CREDENTIAL_NAMES}
    # All at once: a first start lacks several, and one per attempt is a slow way to learn.
    credentials = [n for n, v in secrets.items() if not v]
    how = [f"{', '.join(f'TRACKER_{n.upper()}' for n in credentials)} (or ..._FILE, "
           f"or a systemd credential {', '.join(credentials)})"] if credentials else []
    if config.symbols == ():
        credentials.insert(0, "symbols")
        how.insert(0, "symbols (in the file, TRACKER_SYMBOLS or --symbols)")
    if credentials:
        raise ConfigError(f"{', '.join(credentials)}: missing; set {', and '.join(how)}")
    page_max = V2_PAGE_MAX if config.api == "v2" else V4_PAGE_MAX
    if not 1 <= config.page_size <= page_max:
        raise ConfigError(f"page_size: must be between 1 and {page_max} for {config.api}, "
                          f"got {config.page_size}")
    if config.metrics_port > 65535:
        raise ConfigError(f"metrics_port: must be between 0 and 65535, got "
                          f"{config.metrics_port}")
    for name in ("ping_interval", "silence_timeout", "rest_rate", "rest_timeout",
                 "seed_timeout", "stop_timeout", "rest_max_bytes", "queue_max"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name}: must be greater than 0")
    if config.ping_interval >= 20:
        raise ConfigError("ping_interval: must be below 20 s, or the exchange drops the link")
    if config.silence_timeout <= config.ping_interval:
        # A quiet account hears nothing but pongs: it would reconnect (and re-seed) forever.
        raise ConfigError(f"silence_timeout: must be greater than ping_interval "
                          f"({config.ping_interval:g} s), got {config.silence_timeout:g}")
    if config.journal_keep_days > 36500:
        raise ConfigError(f"journal_keep_days: at most 36500 (0 keeps every row), got "
                          f"{config.journal_keep_days:g}")
    if config.seed_passes < 2:
        raise ConfigError("seed_passes: at least 2, so that two passes can agree")
    if config.log_level not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"log_level: expected debug, info, warning or error, got "
                          f"{config.log_level!r}")
    if config.log_format not in ("auto", "json", "console"):
        raise ConfigError(f"log_format: expected auto, json or console, got "
                          f"{config.log_format!r}")
    return dataclasses.replace(config, credentials=Credentials(
        secrets["api_key"], secrets["api_secret"], secrets["api_memo"]))


def db_path(path: Path | None, env: Mapping[str, str], flag: str | None) -> Path:
    """Where the book is, for the read-only commands, which need no credentials."""
    check_environment(env)
    if flag:
        return Path(flag)
    if env.get("TRACKER_DB"):
        return Path(env["TRACKER_DB"])
    path = path or (Path(env["TRACKER_CONFIG"]) if env.get("TRACKER_CONFIG") else None)
    if path is not None:
        value = _read_toml(path).get("db")
        if value is not None:
            return _coerce("db", value, f"in {path}")
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0]) / "orders.db"
    return Config().db
