"""SIGHUP re-reads the configuration from the sources the start read: the --config file,
the flags given to `tracker run`, and the environment. A reload that read only the
environment would find no symbols (they are in the file, or a flag) and refuse."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness import CREDENTIALS, FAST, SYMBOLS, TRACKER, Lab, clean_env, eventually, logged, tail


@pytest.mark.parametrize("symbols_from", ["file", "flag"])
def test_reload_keeps_the_config_file_and_flags(lab: Lab, tmp_path: Path,
                                                symbols_from: str) -> None:
    sim = lab.sim("--open-orders", "2")
    config = tmp_path / "tracker.toml"
    symbols = ", ".join(f'"{s}"' for s in SYMBOLS)
    in_file = f"symbols = [{symbols}]\n" if symbols_from == "file" else ""
    config.write_text(f'{in_file}log_level = "info"\n')
    flags = ["--symbols", ",".join(SYMBOLS)] if symbols_from == "flag" else []
    db, log = tmp_path / "book.db", tmp_path / "daemon.err"
    env = clean_env() | CREDENTIALS | FAST  # nothing in the environment names symbols
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [*TRACKER, "run", "--config", str(config), "--db", str(db), "--rest-url",
             sim.rest_url, "--ws-url", sim.ws_url, *flags],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
    try:
        def started() -> None:
            assert proc.poll() is None, tail(log)
            assert logged(log, "book_live"), "not live yet"

        eventually(started, 30, "the daemon goes live", context=lambda: tail(log))
        config.write_text(f'{in_file}log_level = "debug"\n')
        proc.send_signal(signal.SIGHUP)

        def reloaded() -> dict[str, Any]:
            assert not logged(log, "reload_refused"), tail(log)
            found = logged(log, "reloaded")
            assert found, "no reload yet"
            return found[-1]

        record = eventually(reloaded, 20, "the reload is logged", context=lambda: tail(log))
        assert record["log_level"] == "debug"  # read from the file given by --config
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
