"""The chaos soak's short run, as CI runs it: ten seeded scenarios of flow, faults and
SIGKILLs must end with the book equal to the truth (the long run is in docs/measured.md),
and every mismatched tracker that tried to take the book over must have been refused."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.chaos import CALM, VENUE_ACTIONS, VENUE_SIM_ARGS, Scenario
from harness import Daemon, Sim, clean_env
from harness.profiles import VENUES, of_venue

ROOT = Path(__file__).resolve().parent.parent
# What a venue's face counts when one of that venue's own actions reached it, by the key the
# action records in the scenario's faults (simulator/faces/<venue>/admin.py, ws.py).
FACE_COUNTS = {"binance_shutdown": "server_shutdown", "binance_terminate": "stream_terminated",
               "okx_notice": "okx_upgrade_notice", "okx_revoke": "okx_key_revoked",
               "okx_freeze": "ws_closed_idle"}
# The seeds whose draws of each venue's own actions (called in turn, three rounds) cover the
# keys above.
ACTION_SEEDS = {"binance": 7, "okx": 1}


@pytest.mark.parametrize("venue", VENUES)
def test_a_scenario_draws_its_venues_own_actions_and_no_other_venues(venue: str,
                                                                     tmp_path: Path) -> None:
    """A venue is one entry of VENUE_ACTIONS: its scenarios draw every action there, and
    those of no other venue; and a venue whose face has control calls of its own (its
    admin module) has actions there that drive them."""
    own = {name for _, name in VENUE_ACTIONS.get(venue, ())}
    assert bool(own) == bool(importlib.util.find_spec(f"simulator.faces.{venue}.admin"))
    for profile in of_venue(venue):
        drawn = {a.__name__ for _, a in Scenario(1, 1, tmp_path, 6.0,
                                                 profiles=(profile,)).actions()}
        others = {name for v, acts in VENUE_ACTIONS.items() if v != venue for _, name in acts}
        assert own <= drawn and not drawn & others, profile
        assert {"_push_faults", "_sigkill", "_disconnect", "_unwritable"} <= drawn


@pytest.mark.parametrize("venue", sorted(VENUE_ACTIONS))
def test_a_venues_own_actions_reach_its_face_and_the_book_still_converges(
        venue: str, tmp_path: Path) -> None:
    """Each of the venue's own actions, against its face with the soak's options and a
    daemon with the soak's settings: the face does what the action asked (counted by the
    face itself), the daemon never exits, and once calm the book equals the truth. Before
    anything is injected, the daemon's own keep-alive holds its connection past the face's
    short idle cut."""
    profile = of_venue(venue)[0]
    scenario = Scenario(1, ACTION_SEEDS[venue], tmp_path, 6.0, profiles=(profile,))
    sim = Sim(tmp_path, "--open-orders", "20", "--rate", "30", "--seed", "1",
              *VENUE_SIM_ARGS.get(venue, ()))
    daemon = Daemon(tmp_path, sim, profile=profile, env=scenario.env)
    try:
        daemon.start()
        daemon.wait_live(60)
        time.sleep(5)
        assert sim.counter("ws_closed_idle") == 0
        own = [getattr(scenario, name) for _, name in VENUE_ACTIONS[venue]]
        for _ in range(3):
            for action in own:
                daemon.wait_live(60)
                action(sim, daemon)
                time.sleep(0.5)
                scenario._restore_key(sim)
        sim.faults(**CALM)
        sim.flow(0)
        daemon.wait_converged(sim, 60)
        assert daemon.alive(), daemon.tail()
        stats = sim.stats()
        counted = stats["injected"] | stats["counters"]
        drawn = {k: n for k, n in scenario.result.faults.items() if k in FACE_COUNTS}
        assert set(drawn) == {k for k in FACE_COUNTS if k.startswith(f"{venue}_")}, drawn
        for key, n in drawn.items():
            assert counted.get(FACE_COUNTS[key], 0) >= n, (key, counted)
    finally:
        daemon.close()
        sim.close()


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
