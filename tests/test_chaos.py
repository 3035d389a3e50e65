"""The chaos soak's short run, as CI runs it: ten seeded scenarios of flow, faults and
SIGKILLs must end with the book equal to the truth (the long run is in docs/measured.md),
and every mismatched tracker that tried to take the book over must have been refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness import clean_env

ROOT = Path(__file__).resolve().parent.parent


def test_short_chaos_soak_converges_with_no_divergence() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.chaos", "--scenarios", "10",
                           "--seed", "1000", "--jobs", "2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env=clean_env())
    print(done.stdout[-6000:], done.stderr[-3000:])
    summary = json.loads(done.stdout[done.stdout.index("\n{") + 1:])
    assert done.returncode == 0, done.stdout[-6000:]
    assert summary["scenarios"] == 10 and summary["failed_scenarios"] == 0
    assert summary["divergent_orders"] == summary["journal_rows_lost"] == 0
    assert summary["unexpected_exits"] == summary["secret_leaks"] == summary["errors"] == 0
    assert summary["log_flood_lines"] == 0
    # The storm really happened: kills, disconnects and push faults were injected, and the
    # change feed was flooded all along.
    faults = summary["faults_injected"]
    assert summary["restarts"] > 0 and faults.get("sigkill", 0) > 0
    assert faults.get("feed_flood_connects", 0) > 1000
    assert faults.get("ws_abort", 0) + faults.get("ws_close", 0) > 0
    assert faults.get("push_drop", 0) + faults.get("push_duplicate", 0) > 0
    assert summary["events_sent"] > 500
    # Seeds 1003, 1005, 1006 draw a tracker with other keys, 1007 and 1009 one with fewer
    # symbols: each left with 78, and the book stayed exact.
    assert faults.get("mismatched_keys", 0) > 0 and faults.get("mismatched_symbols", 0) > 0
    assert summary["mismatched_admitted"] == 0


def test_short_chaos_soak_on_postgresql_survives_its_server_crashing_and_freezing() -> None:
    """Two scenarios on PostgreSQL books, each on a server of its own; their seeds draw a
    frozen server first thing (3242), and a SIGKILL then a crashed server (3243), and a
    standby with another account's keys, which must be refused (3243)."""
    done = subprocess.run([sys.executable, "-m", "bench.chaos", "--store", "postgres",
                           "--scenarios", "2", "--seed", "3241", "--jobs", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=clean_env())
    print(done.stdout[-6000:], done.stderr[-3000:])
    summary = json.loads(done.stdout[done.stdout.index("\n{") + 1:])
    assert done.returncode == 0, done.stdout[-6000:]
    assert summary["store"] == "postgres"
    assert summary["scenarios"] == 2 and summary["failed_scenarios"] == 0
    assert summary["divergent_orders"] == summary["journal_rows_lost"] == 0
    assert summary["journal_rows_doubled"] == 0
    assert summary["unexpected_exits"] == summary["secret_leaks"] == summary["errors"] == 0
    faults = summary["faults_injected"]
    assert faults.get("pg_freeze", 0) > 0 and faults.get("pg_crash", 0) > 0
    assert faults.get("sigkill", 0) > 0
    assert faults.get("mismatched_keys", 0) > 0 and summary["mismatched_admitted"] == 0
