"""Binance's settings as a configuration reads them: its URLs, its key types, its symbols,
and the one-line refusals (exit 78 from `tracker run`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.processes import TRACKER, clean_env
from tracker.config import load
from tracker.settings import ConfigError

from .keys import API_KEY, HMAC_SECRET, ed25519_pem, rsa_pem

EX_CONFIG = 78
BASE = {"TRACKER_VENUE": "binance", "TRACKER_API_KEY": API_KEY,
        "TRACKER_API_SECRET": HMAC_SECRET, "TRACKER_SYMBOLS": "BTCUSDT"}


def test_defaults() -> None:
    config = load(None, BASE, {})
    assert (config.rest_url, config.ws_url) == ("https://api.binance.com",
                                                "wss://ws-api.binance.com:443/ws-api/v3")
    assert config.symbols == ("BTCUSDT",) and config.adapter.account_key(
        config.credentials) == API_KEY
    own = config.venue_settings
    assert (own.key_type, own.ws_auth, own.recv_window_ms, own.weight_budget) == (
        "auto", "signature", 5000, 5400)
    assert config.adapter.state_label(own) == "v3"


@pytest.mark.parametrize(("environment", "rest", "ws"), [
    ("demo", "https://demo-api.binance.com", "wss://demo-ws-api.binance.com/ws-api/v3"),
    ("testnet", "https://testnet.binance.vision",
     "wss://ws-api.testnet.binance.vision/ws-api/v3"),
])
def test_demo_mode_and_testnet(environment: str, rest: str, ws: str) -> None:
    config = load(None, BASE | {"TRACKER_ENVIRONMENT": environment}, {})
    assert (config.rest_url, config.ws_url) == (rest, ws)


def test_symbols_as_binance_writes_them() -> None:
    config = load(None, BASE | {"TRACKER_SYMBOLS": "btcusdt, 这是测试币456,ETHBTC"}, {})
    assert config.symbols == ("BTCUSDT", "这是测试币456", "ETHBTC")
    assert load(None, BASE | {"TRACKER_SYMBOLS": "*"}, {}).all_symbols
    with pytest.raises(ConfigError, match="'BTC_USDT' is not a BASEQUOTE symbol "
                                          r"\(e.g. BTCUSDT\)"):
        load(None, BASE | {"TRACKER_SYMBOLS": "BTC_USDT"}, {})


@pytest.mark.parametrize(("secret", "key_type"), [
    (HMAC_SECRET, "hmac"), (rsa_pem(), "rsa"), (ed25519_pem(), "ed25519"),
])
def test_each_key_type(tmp_path: Path, secret: str, key_type: str) -> None:
    """A PEM key from a file, as a secret is given today (file, environment or systemd
    credential)."""
    (tmp_path / "secret").write_text(secret + "\n")
    env = BASE | {"TRACKER_API_SECRET": "", "TRACKER_API_SECRET_FILE": str(tmp_path / "secret")}
    for setting in ("auto", key_type):
        config = load(None, env | {"TRACKER_KEY_TYPE": setting}, {})
        config.adapter.check(config)
        assert config.adapter.rest(config).key.kind == key_type  # type: ignore[attr-defined]


@pytest.mark.parametrize(("env", "words"), [
    ({"TRACKER_KEY_TYPE": "rsa"}, "api_secret: key_type is rsa, but the secret is not a PEM"),
    ({"TRACKER_API_SECRET": rsa_pem(), "TRACKER_KEY_TYPE": "ed25519"},
     "api_secret: key_type is ed25519, but the secret is an RSA key"),
    ({"TRACKER_KEY_TYPE": "dsa"}, "key_type: expected auto, hmac, rsa or ed25519"),
    ({"TRACKER_WS_AUTH": "logon"}, "ws_auth: logon (session.logon) takes Ed25519 keys only"),
    ({"TRACKER_RECV_WINDOW_MS": "60001"}, "recv_window_ms: must be between 1 and 60000"),
    ({"TRACKER_WEIGHT_BUDGET": "7000"}, "weight_budget: must be between 80 and 6000"),
    ({"TRACKER_API": "v4"}, "api (from TRACKER_API): a setting of BitMart, not of Binance"),
    ({"TRACKER_ENVIRONMENT": "prod"}, "environment: expected live, demo or testnet"),
])
def test_refusals_name_the_setting(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as refusal:
        load(None, BASE | env, {})
    assert words in str(refusal.value)
    assert HMAC_SECRET not in str(refusal.value) and "BEGIN" not in str(refusal.value)


def test_logon_with_an_ed25519_key() -> None:
    config = load(None, BASE | {"TRACKER_API_SECRET": ed25519_pem(),
                                "TRACKER_WS_AUTH": "logon"}, {})
    assert config.adapter.channel(config, ["BTCUSDT"]).logon  # type: ignore[attr-defined]


def test_a_wrong_key_type_stops_the_daemon_with_one_line(tmp_path: Path) -> None:
    env = clean_env() | BASE | {"TRACKER_API_SECRET": rsa_pem(), "TRACKER_KEY_TYPE": "hmac",
                                "TRACKER_REST_URL": "http://127.0.0.1:9",
                                "TRACKER_WS_URL": "ws://127.0.0.1:9/ws-api/v3"}
    done = subprocess.run([*TRACKER, "run", "--db", str(tmp_path / "book.db")],
                          capture_output=True, text=True, timeout=60, env=env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == EX_CONFIG, done.stderr[-2000:]
    assert lines == ["tracker: configuration error: api_secret: key_type is hmac, but the "
                     "secret is an RSA key"]
    assert not (tmp_path / "book.db").exists()
