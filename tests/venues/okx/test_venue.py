"""OKX's settings as a configuration reads them: its URLs (live and demo), its three-part
key, its instruments, its page size and keep-alive bounds, and the one-line refusals (exit
78 from `tracker run`). An instrument OKX does not list: test_daemon_e2e.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.processes import TRACKER, clean_env
from tracker.config import load
from tracker.settings import ConfigError
from tracker.venues import NAMES

EX_CONFIG = 78
SECRET, PASSPHRASE = "okx-secret-5f1c", "okx-pass-77aa"
BASE = {"TRACKER_VENUE": "okx", "TRACKER_API_KEY": "okx-key", "TRACKER_API_SECRET": SECRET,
        "TRACKER_PASSPHRASE": PASSPHRASE, "TRACKER_SYMBOLS": "BTC-USDT"}


def test_defaults() -> None:
    assert "okx" in NAMES
    config = load(None, BASE, {})
    assert (config.rest_url, config.ws_url) == ("https://openapi.okx.com",
                                                "wss://ws.okx.com:8443/ws/v5/private")
    assert config.symbols == ("BTC-USDT",)
    assert config.adapter.account_key(config.credentials) == "okx-key"
    assert config.adapter.state_label(config.venue_settings) == "v5"
    assert config.adapter.rest_lag_s(config.venue_settings) == 0
    assert config.adapter.native_id("1752588852617379840") == "1752588852617379840"
    assert config.adapter.idle_cut_s == 30
    reader = config.adapter.codec(config.venue_settings)
    assert (reader.seed_source, reader.detail_source, reader.inferred_source) == (
        "seed", "detail", "inferred_forgotten")
    channel = config.adapter.channel(config, ["BTC-USDT"])
    assert (channel.ping, channel.max_age_s) == ("ping", None)


def test_demo_trading() -> None:
    """The demo's WebSocket host, and the live REST host with `x-simulated-trading: 1`
    ([OKX] #overview-demo-trading-services)."""
    config = load(None, BASE | {"TRACKER_ENVIRONMENT": "demo"}, {})
    assert (config.rest_url, config.ws_url) == ("https://openapi.okx.com",
                                                "wss://wspap.okx.com:8443/ws/v5/private")
    assert config.adapter.rest(config).extra == {  # type: ignore[attr-defined]
        "x-simulated-trading": "1"}
    live = load(None, BASE, {})
    assert live.adapter.rest(live).extra == {}  # type: ignore[attr-defined]


def test_instruments_as_okx_writes_them() -> None:
    config = load(None, BASE | {"TRACKER_SYMBOLS": "btc-usdt, ETH-USDT"}, {})
    assert config.symbols == ("BTC-USDT", "ETH-USDT")
    assert load(None, BASE | {"TRACKER_SYMBOLS": "*"}, {}).all_symbols
    with pytest.raises(ConfigError, match="'BTC_USDT' is not a BASE-QUOTE symbol "
                                          r"\(e.g. BTC-USDT\)"):
        load(None, BASE | {"TRACKER_SYMBOLS": "BTC_USDT"}, {})


def test_the_passphrase_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    env = BASE | {"TRACKER_PASSPHRASE": "", "TRACKER_PASSPHRASE_FILE": str(tmp_path /
                                                                          "passphrase")}
    config = load(None, env, {})
    assert config.adapter.rest(config).passphrase == PASSPHRASE  # type: ignore[attr-defined]


@pytest.mark.parametrize(("env", "words"), [
    ({"TRACKER_PASSPHRASE": ""}, "passphrase"),
    ({"TRACKER_PAGE_SIZE": "101"}, "page_size: must be between 1 and 100 for OKX"),
    ({"TRACKER_PING_INTERVAL": "30"}, "ping_interval: must be below 30, or OKX drops the link"),
    ({"TRACKER_ENVIRONMENT": "testnet"}, "environment: expected live or demo"),
    ({"TRACKER_KEY_TYPE": "rsa"}, "key_type (from TRACKER_KEY_TYPE): a setting of Binance, "
                                  "not of OKX"),
])
def test_refusals_name_the_setting(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as refusal:
        load(None, BASE | env, {})
    assert words in str(refusal.value)
    assert SECRET not in str(refusal.value) and PASSPHRASE not in str(refusal.value)


def test_a_missing_passphrase_stops_the_daemon_with_one_line(tmp_path: Path) -> None:
    env = clean_env() | BASE | {"TRACKER_REST_URL": "http://127.0.0.1:9",
                                "TRACKER_WS_URL": "ws://127.0.0.1:9/ws/v5/private"}
    del env["TRACKER_PASSPHRASE"]
    done = subprocess.run([*TRACKER, "run", "--db", str(tmp_path / "book.db")],
                          capture_output=True, text=True, timeout=60, env=env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == EX_CONFIG, done.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("tracker: configuration error: ")
    assert "passphrase" in lines[0] and SECRET not in done.stderr
    assert not (tmp_path / "book.db").exists()
