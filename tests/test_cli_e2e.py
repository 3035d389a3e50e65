"""The read-only commands against a running daemon's book: the installed `tracker` script
as a subprocess, the daemon and the simulator as real processes (harness/)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import Lab, clean_env, eventually

TRACKER = str(Path(sys.executable).parent / "tracker")
AGO = r"(\d+ s|\d+ min \d+ s) ago"


def tracker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRACKER, *args], capture_output=True, text=True, timeout=60,
                          env=clean_env())


def status(db: Path) -> tuple[int, dict[str, Any], list[str]]:
    as_json = tracker("status", "--json", "--db", str(db))
    text = tracker("status", "--db", str(db))
    assert as_json.returncode == text.returncode, (as_json.stderr, text.stderr)
    return text.returncode, json.loads(as_json.stdout), text.stdout.splitlines()


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_status_of_a_live_then_stopped_daemon(lab: Lab) -> None:
    # No order flow: the count cannot change between the two reads compared below.
    sim = lab.sim("--open-orders", "400", "--seed", "31")
    daemon = lab.daemon(sim).start()
    daemon.wait_live()

    code, state, text = status(daemon.db)
    assert code == 0 and state["exit_code"] == 0
    assert state["live"] is True and state["running"] is True and state["status"] == "live"
    assert state["open_orders"] == 1200  # 400 on each of the simulator's three symbols
    for name in ("live_since", "started_at", "heartbeat_at", "last_seed_at"):
        moment = utc(state[name])
        assert datetime.fromisoformat(state[f"{name}_iso"]) == moment, name
        assert state[f"{name}_iso"].endswith("Z")
    since = utc(state["live_since"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert re.fullmatch(f"live since {since}; {AGO}", text[0]), text
    fields = {line[2:15].strip(): line[15:] for line in text[1:]}
    assert fields["open orders"] == "1200" and "\n".join(text).count("open orders") == 1
    assert fields["venue"] == state["venue"] == "bitmart", fields
    assert re.fullmatch(rf"running, pid {daemon.pid}, started .* UTC; {AGO}",
                        fields["daemon"]), fields
    assert re.fullmatch(rf"\S+ \S+ UTC; {AGO} \(1200 orders read\)", fields["last seed"])

    # The book is read while the daemon writes it: a reader that leaves stops us quietly.
    piped = subprocess.run(
        ["bash", "-c", f"set -o pipefail; '{TRACKER}' orders --format json --db "
                       f"'{daemon.db}' | head -2; echo \"exit ${{PIPESTATUS[0]}}\""],
        capture_output=True, text=True, timeout=60, env=clean_env())
    assert piped.stdout.splitlines()[2:] == ["exit 141"] and piped.stderr == "", piped

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(15) == 0, daemon.tail()
    code, state, text = status(daemon.db)
    assert code == 3 and state["live"] is False and state["running"] is False
    assert text[0] == "NOT LIVE: stopped", text
    fields = {line[2:15].strip(): line[15:] for line in text[1:]}
    last = utc(state["heartbeat_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert re.fullmatch(f"not running; last commit {last}; {AGO}", fields["daemon"]), fields


def test_status_of_a_killed_daemon_does_not_pass_its_last_words_for_the_truth(
        lab: Lab) -> None:
    sim = lab.sim("--open-orders", "5", "--seed", "32")
    daemon = lab.daemon(sim).start()
    daemon.wait_live()
    daemon.signal(signal.SIGKILL)
    daemon.wait(15)

    def stale() -> tuple[int, list[str]]:
        code, _, text = status(daemon.db)
        assert code == 3, text  # no heartbeat for 15 s
        return code, text

    _, text = eventually(stale, 40, "the killed daemon is seen as not running")
    assert text[0] == "NOT LIVE: the daemon is not running (its last status: live)", text
    health = tracker("healthcheck", "--db", str(daemon.db))
    assert (health.returncode, health.stdout) == (
        1, "unhealthy: the daemon is not running (its last status: live)\n")
