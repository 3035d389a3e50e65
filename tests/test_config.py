"""Configuration precedence, validation and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.backends import choose
from tracker.config import ConfigError, db_target, load
from tracker.venues.bitmart.keys import Keys

CREDS = {"TRACKER_API_KEY": "k", "TRACKER_API_SECRET": "s", "TRACKER_API_MEMO": "m"}


def test_defaults_toml_env_flags_precedence(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('symbols = ["BTC_USDT"]\npage_size = 50\ndb = "from-file.db"\n'
                    'grace_period = 1.5\n')
    config = load(toml, CREDS, {})
    assert config.symbols == ("BTC_USDT",) and config.page_size == 50
    assert config.db == Path("from-file.db") and config.grace_period == 1.5
    assert config.rest_url == "https://openapi.bitmart.com" and config.ping_interval == 10
    env = CREDS | {"TRACKER_PAGE_SIZE": "70", "TRACKER_SYMBOLS": "eth_usdt, BMX_ETH"}
    config = load(toml, env, {"page_size": None})
    assert config.page_size == 70 and config.symbols == ("ETH_USDT", "BMX_ETH")
    config = load(toml, env, {"symbols": "BTC_USDT", "db": "flag.db"})
    assert config.symbols == ("BTC_USDT",) and config.db == Path("flag.db")


def test_a_venues_own_settings_are_read_from_the_same_sources_in_the_same_order(
        tmp_path: Path) -> None:
    """BitMart's rows live in its package and in `venue_settings`, and a user writes them
    flat, as before the venue was a setting: file < environment < flags, typos named."""
    toml = tmp_path / "t.toml"
    toml.write_text('venue = "bitmart"\nsymbols = ["BTC_USDT"]\napi = "v4"\n'
                    'seed_passes = 5\n')
    config = load(toml, CREDS, {})
    assert (config.venue, config.venue_settings.api, config.venue_settings.seed_passes) == (
        "bitmart", "v4", 5)
    config = load(toml, CREDS | {"TRACKER_SEED_PASSES": "3", "TRACKER_REST_RATE": "2.5"},
                  {"api": "v2"})
    assert (config.venue_settings.api, config.venue_settings.seed_passes,
            config.venue_settings.rest_rate) == ("v2", 3, 2.5)
    assert config.rest_url == "https://openapi.bitmart.com"  # the venue's default for v2
    toml.write_text('symbols = ["BTC_USDT"]\napii = "v4"\n')
    with pytest.raises(ConfigError, match=r"unknown setting 'apii' \(did you mean 'api'\?\)"):
        load(toml, CREDS, {})


def test_a_setting_of_several_venues_is_each_ones_own() -> None:
    """Binance and OKX both have `environment`, each with its own values; a venue without
    it is told whose setting it is."""
    keys = {"TRACKER_SYMBOLS": "BTCUSDT", "TRACKER_ENVIRONMENT": "testnet"}
    binance = load(None, CREDS | keys | {"TRACKER_VENUE": "binance"}, {})
    assert binance.venue_settings.environment == "testnet"
    assert binance.rest_url == "https://testnet.binance.vision"
    with pytest.raises(ConfigError, match=r"environment: expected live or demo"):
        load(None, CREDS | keys | {"TRACKER_VENUE": "okx", "TRACKER_PASSPHRASE": "p",
                                   "TRACKER_SYMBOLS": "BTC-USDT"}, {})
    with pytest.raises(ConfigError, match=r"environment \(from TRACKER_ENVIRONMENT\): a "
                                          r"setting of Binance and OKX, not of BitMart"):
        load(None, CREDS | {"TRACKER_ENVIRONMENT": "demo"}, {})


def test_v4_all_symbols_and_urls() -> None:
    config = load(None, CREDS | {"TRACKER_API": "v4", "TRACKER_SYMBOLS": "*"}, {})
    assert config.all_symbols and config.rest_url == "https://api-cloud.bitmart.com"
    assert config.page_size == 100


@pytest.mark.parametrize(("env", "needle"), [
    ({"TRACKER_API": "v3"}, "api: expected v2 or v4"),
    ({"TRACKER_VENUE": "bitmartt"}, "venue (from TRACKER_VENUE): expected one of bitmart, "
                                    "binance, okx, got 'bitmartt'"),
    ({"TRACKER_SYMBOLS": ""}, "symbols: missing; set symbols (in the file, TRACKER_SYMBOLS"),
    ({"TRACKER_SYMBOLS": "*"}, "v2 order list needs explicit symbols"),
    ({"TRACKER_SYMBOLS": "BTC-USDT"}, "'BTC-USDT' is not a BASE_QUOTE symbol (e.g. BTC_USDT)"),
    ({"TRACKER_METRICS_PORT": "70000"}, "metrics_port: must be between 0 and 65535, got"),
    ({"TRACKER_SEED_TIMEOUT": "0"}, "seed_timeout: must be greater than 0"),
    ({"TRACKER_STOP_TIMEOUT": "0"}, "stop_timeout: must be greater than 0"),
    ({"TRACKER_QUEUE_MAX": "0"}, "queue_max: must be greater than 0"),
    ({"TRACKER_REST_MAX_BYTES": "0"}, "rest_max_bytes: must be greater than 0"),
    ({"TRACKER_PAGE_SIZE": "0"}, "page_size: must be between 1 and 1000"),
    ({"TRACKER_PAGE_SIZE": "many"}, "page_size (from TRACKER_PAGE_SIZE)"),
    ({"TRACKER_GRACE_PERIOD": "nan"}, "grace_period"),
    ({"TRACKER_PING_INTERVAL": "25"}, "ping_interval: must be below 20"),
    ({"TRACKER_REST_URL": "http://exchange.example"}, "rest_url: plain http://"),
    ({"TRACKER_WS_URL": "wss://"}, "ws_url: expected"),
    ({"TRACKER_REST_URL": "ftp://x"}, "rest_url: expected"),
    ({"TRACKER_LOG_LEVEL": "loud"}, "log_level"),
    ({"TRACKER_ALLOW_INSECURE": "maybe"}, "allow_insecure"),
])
def test_bad_settings_name_themselves(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(None, CREDS | {"TRACKER_SYMBOLS": "BTC_USDT"} | env, {})
    assert needle in str(err.value)


def test_a_bad_symbol_is_named_once() -> None:
    with pytest.raises(ConfigError) as err:
        load(None, CREDS | {"TRACKER_SYMBOLS": "BTC_USDT,BTC-USDT"}, {})
    assert str(err.value).count("BTC-USDT") == 1, err.value


def test_insecure_allowed_explicitly_and_on_loopback() -> None:
    base = CREDS | {"TRACKER_SYMBOLS": "BTC_USDT"}
    assert load(None, base | {"TRACKER_REST_URL": "http://127.0.0.1:8080",
                              "TRACKER_WS_URL": "ws://localhost:8080/user"}, {})
    assert load(None, base | {"TRACKER_REST_URL": "http://exchange.example",
                              "TRACKER_ALLOW_INSECURE": "true"}, {})


def test_toml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("symbols = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad, CREDS, {})
    bad.write_text('symbolz = ["BTC_USDT"]')
    with pytest.raises(ConfigError, match=r"unknown setting 'symbolz' \(did you mean 'symbols'"):
        load(bad, CREDS, {})
    with pytest.raises(ConfigError, match=r"config file .*missing\.toml"):
        load(tmp_path / "missing.toml", CREDS, {})


def test_credentials_sources(tmp_path: Path) -> None:
    env = {"TRACKER_SYMBOLS": "BTC_USDT"}
    with pytest.raises(ConfigError, match=r"^api_key, api_secret, api_memo: missing; set "):
        load(None, env, {})
    (tmp_path / "key").write_text("file-key\n")
    creds_dir = tmp_path / "creds"
    creds_dir.mkdir()
    (creds_dir / "api_secret").write_text("dir-secret")
    env |= {"TRACKER_API_KEY": "env-key", "TRACKER_API_KEY_FILE": str(tmp_path / "key"),
            "TRACKER_API_SECRET": "env-secret", "TRACKER_API_MEMO": "memo",
            "CREDENTIALS_DIRECTORY": str(creds_dir)}
    credentials = load(None, env, {}).credentials
    c = Keys.of(credentials)
    assert (c.api_key, c.secret, c.memo) == ("file-key", "dir-secret", "memo")
    assert "file-key" not in repr(credentials) and "dir-secret" not in repr(load(None, env, {}))
    env["TRACKER_API_MEMO_FILE"] = str(tmp_path / "nope")
    with pytest.raises(ConfigError, match="api_memo: cannot read"):
        load(None, env, {})


def test_db_target_needs_no_credentials(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('db = "/srv/book.db"\n')
    assert db_target(None, {}, "x.db") == Path("x.db")
    assert db_target(toml, {"TRACKER_DB": "env.db"}, None) == Path("env.db")
    assert db_target(toml, {}, None) == Path("/srv/book.db")
    assert db_target(None, {"STATE_DIRECTORY": "/var/lib/tracker"}, None) == Path(
        "/var/lib/tracker/orders.db")


def test_every_missing_setting_in_one_line() -> None:
    with pytest.raises(ConfigError) as err:
        load(None, {"TRACKER_API_MEMO": "m"}, {})
    message = str(err.value)
    assert message.startswith("symbols, api_key, api_secret: missing; set symbols"), message
    assert "TRACKER_API_KEY, TRACKER_API_SECRET" in message and "memo" not in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match=r"^api_secret: missing; set TRACKER_API_SECRET \("):
        load(None, CREDS | {"TRACKER_SYMBOLS": "BTC_USDT", "TRACKER_API_SECRET": " "}, {})


@pytest.mark.parametrize(("name", "hint"), [
    ("TRACKER_PAGESIZE", " (did you mean TRACKER_PAGE_SIZE?)"),
    ("TRACKER_SYMBOL", " (did you mean TRACKER_SYMBOLS?)"),
    ("TRACKER_API_KEY_FILES", " (did you mean TRACKER_API_KEY_FILE?)"),
    ("TRACKER_COLOUR", ""),
])
def test_an_unknown_tracker_variable_is_refused_and_named(name: str, hint: str) -> None:
    env = CREDS | {"TRACKER_SYMBOLS": "BTC_USDT", name: "5"}
    for read in (lambda: load(None, env, {}), lambda: db_target(None, env, "x.db")):
        with pytest.raises(ConfigError) as err:
            read()
        assert str(err.value).startswith(f"{name}{hint}: unknown environment variable;"), (
            err.value)


def test_unknown_variables_are_named_together() -> None:
    with pytest.raises(ConfigError, match=r"^TRACKER_A, TRACKER_B: unknown environment variables;"):
        load(None, CREDS | {"TRACKER_SYMBOLS": "BTC_USDT", "TRACKER_B": "", "TRACKER_A": ""}, {})


def test_documented_variables_that_are_no_settings_are_accepted(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('symbols = ["BTC_USDT"]\n')
    (tmp_path / "memo").write_text("m")
    env = {"TRACKER_CONFIG": str(toml), "TRACKER_API_KEY": "k", "TRACKER_API_SECRET": "s",
           "TRACKER_API_MEMO_FILE": str(tmp_path / "memo"), "TRACKER_SIM_API_KEY": "x",
           "TRACKER_SIM_API_SECRET": "x", "TRACKER_SIM_API_MEMO": "x",
           "TRACKER_IT_CACHE": "/var/cache", "TRACKERS": "not ours", "tracker_pagesize": "1"}
    assert load(None, env, {}).credentials["api_memo"] == "m"
    assert db_target(None, env, None) == Path("tracker.db")


@pytest.mark.parametrize(("env", "needle"), [
    ({"TRACKER_LOG_FORMAT": "xml"}, "log_format: expected auto, json or console, got 'xml'"),
    ({"TRACKER_SEED_PASSES": "1"}, "seed_passes: must be at least 2, so that two passes can "
                                   "agree, got 1"),
    ({"TRACKER_JOURNAL_KEEP_DAYS": "40000"}, "journal_keep_days: must be between 0 and "
                                             "36500, 0 keeps every row, got 40000"),
    ({"TRACKER_PING_INTERVAL": "0"}, "ping_interval: must be greater than 0"),
])
def test_ranges_come_from_the_settings_table(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(None, CREDS | {"TRACKER_SYMBOLS": "BTC_USDT"} | env, {})
    assert str(err.value) == needle


def test_every_bounded_setting_accepts_its_bounds() -> None:
    """The table's inclusive bounds are inclusive: each accepted as it stands."""
    import dataclasses

    from tracker.config import Config

    for f in dataclasses.fields(Config):
        for bound in ("low", "high"):
            value = f.metadata.get(bound) if f.metadata else None
            if value is not None:
                config = load(None, CREDS | {"TRACKER_SYMBOLS": "BTC_USDT",
                                             f"TRACKER_{f.name.upper()}": str(value)}, {})
                assert getattr(config, f.name) == value


def test_a_url_scheme_in_capitals_is_postgresql_all_the_same(tmp_path: Path) -> None:
    """libpq reads the scheme in lower case only; the rest stays as written."""
    base = CREDS | {"TRACKER_SYMBOLS": "BTC_USDT", "TRACKER_ACCOUNT": "a"}
    for written, taken in (("POSTGRESQL://u:s3cret@h/Book", "postgresql://u:s3cret@h/Book"),
                           ("Postgres://u@h/d", "postgres://u@h/d")):
        assert load(None, base | {"TRACKER_DB": written}, {}).db == taken
        assert db_target(None, {}, written) == taken
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("db", "needle"), [
    ("host=db.example dbname=book user=t password=s3cret", "a libpq keyword string"),
    (" password=s3cret host=h", "a libpq keyword string"),
    ("mysql://t:s3cret@h/book", "'mysql://' is not a PostgreSQL URL"),
    ("postgresq://t:s3cret@h/book", "'postgresq://' is not a PostgreSQL URL"),
])
def test_a_db_that_is_neither_a_path_nor_a_url_is_refused_without_its_secret(
        db: str, needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Taken as a path, these created a file named with the password."""
    monkeypatch.chdir(tmp_path)
    base = CREDS | {"TRACKER_SYMBOLS": "BTC_USDT"}
    for read in (lambda: load(None, base | {"TRACKER_DB": db}, {}),
                 lambda: db_target(None, {}, db)):
        with pytest.raises(ConfigError) as err:
            read()
        assert needle in str(err.value) and "s3cret" not in str(err.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("db", ["postgresql://tracker@db.example/book?sslmode=verify-full",
                                "postgres://x@y/z"])
def test_a_postgresql_url_is_kept_as_written_and_needs_an_account(db: str,
                                                                   tmp_path: Path) -> None:
    base = CREDS | {"TRACKER_SYMBOLS": "BTC_USDT", "TRACKER_DB": db}
    with pytest.raises(ConfigError, match=r"^account: missing; a PostgreSQL book is shared"):
        load(None, base, {})
    config = load(None, base | {"TRACKER_ACCOUNT": "desk-1.main"}, {})
    assert config.db == db and config.account == "desk-1.main"  # a string: not a Path


def test_the_database_password_comes_with_the_backend_from_every_source(
        tmp_path: Path) -> None:
    """Every command (run, migrate and the readers) gets its backend from `choose`, and the
    password with it."""
    db = "postgresql://tracker@db.example/book"
    assert choose(db, {}).secrets == ()  # libpq finds it (.pgpass, PGPASSWORD)
    secret = tmp_path / "pw"
    secret.write_text("s3cret-pw\n")
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "db_password").write_text("from-systemd")
    for env, expected in (({"TRACKER_DB_PASSWORD": "from-env"}, "from-env"),
                          ({"TRACKER_DB_PASSWORD_FILE": str(secret)}, "s3cret-pw"),
                          ({"CREDENTIALS_DIRECTORY": str(credentials),
                            "TRACKER_DB_PASSWORD": "from-env"}, "from-systemd")):
        backend = choose(db, env)
        assert backend.secrets == (expected,)
        assert expected not in repr(backend)
    assert choose("orders.db", {"TRACKER_DB_PASSWORD": "x"}).secrets == ()


def test_an_account_is_checked_and_only_for_postgresql() -> None:
    base = CREDS | {"TRACKER_SYMBOLS": "BTC_USDT"}
    with pytest.raises(ConfigError, match=r"^account: 'a' is set, but db is an SQLite file"):
        load(None, base | {"TRACKER_ACCOUNT": "a"}, {})
    for bad in ("", "a b", "x" * 65, "é"):
        with pytest.raises(ConfigError, match=r"^account \(from --account\): expected 1-64 of"):
            load(None, base | {"TRACKER_DB": "postgresql://h/d"}, {"account": bad or " "})
