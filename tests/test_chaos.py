"""The chaos soak's short run, as CI runs it: ten seeded scenarios of flow, faults and
SIGKILLs must end with the book equal to the truth (the long run is in docs/measured.md)."""

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
    # The storm really happened: kills, disconnects and push faults were injected.
    faults = summary["faults_injected"]
    assert summary["restarts"] > 0 and faults.get("sigkill", 0) > 0
    assert faults.get("ws_abort", 0) + faults.get("ws_close", 0) > 0
    assert faults.get("push_drop", 0) + faults.get("push_duplicate", 0) > 0
    assert summary["events_sent"] > 500
