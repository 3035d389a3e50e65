"""The benchmarks still run: `python -m bench` at 1% of its sizes, figures checked for
sense (not speed: timings are for the full run on a quiet machine, see docs/measured.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness import clean_env

ROOT = Path(__file__).resolve().parent.parent


def test_benchmarks_run_and_their_books_are_exact() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--scale", "0.01"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    ingest = figures["ingest"]
    assert ingest["book_exact"] and ingest["pushes"] == 2000 and ingest["orders"] == 200
    assert ingest["floor_pushes_per_s"] > 0 and ingest["naive_pushes_per_s"] > 0
    assert ingest["physical_floor_pushes_per_s"] > 0
    # ccxt.pro took the same burst and ended holding every order as filled.
    assert ingest["peer_exact"] and ingest["peer_updates_parsed"] == 2000
    assert ingest["tracker_vs_peer"] == round(
        ingest["tracker_pushes_per_s"] / ingest["peer_pushes_per_s"], 2)
    assert ingest["tracker_vs_floor"] == round(
        ingest["tracker_pushes_per_s"] / ingest["floor_pushes_per_s"], 2)
    assert figures["seed"]["open_orders"] == 1000  # 20 symbols x 50
    assert figures["seed"]["requests"] >= 20 and figures["seed"]["seed_s"] > 0
    latency = figures["latency"]
    assert latency["seen"] == latency["sent"] == 6000  # 2000/s for the 3 s minimum
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert figures["readers"]["rows"] == 50 and figures["readers"]["queries"] > 100
    typical = figures["readers"]["typical"]  # the 100-row question, LIMITed at 50 here
    assert typical["rows"] == 50 and typical["queries"] == figures["readers"]["queries"]
    assert 0 < figures["footprint"]["rss_mb_after_seed"] < 1000


def test_benchmarks_on_postgresql_beside_sqlite_run_and_the_book_is_exact() -> None:
    """`--store both`: the same daemon on a PostgreSQL book, through the same burst, seed
    and paced load as on SQLite in the same run, its latency read by a LISTENing reader."""
    done = subprocess.run([sys.executable, "-m", "bench", "--store", "both", "--scale",
                           "0.01"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["store"] == "both" and figures["ingest"]["book_exact"]
    pg = figures["postgres"]
    assert pg["server"]["fsync"] == pg["server"]["synchronous_commit"] == "on"
    ingest = pg["ingest"]
    assert ingest["book_exact"] and pg["targets_met"]["book_exact"]
    assert ingest["pushes"] == 2000 and ingest["orders"] == 200
    assert ingest["tracker_pushes_per_s"] == round(2000 / ingest["tracker_s"])
    assert pg["ingest_vs_sqlite"] == round(
        ingest["tracker_pushes_per_s"] / figures["ingest"]["tracker_pushes_per_s"], 2)
    seed = pg["seed"]
    assert seed["open_orders"] == figures["seed"]["open_orders"] == 1000
    assert seed["requests"] == figures["seed"]["requests"]  # the same pages: the same floor
    assert seed["io_floor_s"] == figures["seed"]["io_floor_s"]
    assert pg["seed_vs_floor"] == seed["seed_vs_floor"] > 0
    latency = pg["latency"]
    assert latency["reader"].startswith("LISTEN tracker_book")
    assert latency["seen"] == latency["sent"] == 6000  # every row reached the reader
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] == pg["latency_p99_ms"]
    assert pg["sqlite_latency_p99_ms"] == figures["latency"]["p99_ms"]
    assert pg["targets_met"]["latency all seen"]
    assert set(pg["targets_met"]) == {"book_exact", "ingest_vs_sqlite >= 0.5",
                                      "seed <= 1.5 x floor", "latency p99 <= 20 ms",
                                      "latency all seen"}


def binance_seed(seed: dict[str, Any]) -> None:
    # 20 symbols cost 120 one by one, 80 in one read of all: the daemon reads all, once,
    # and the floor sends that one request, within the configured weight budget.
    assert seed["open_orders_requests"] == 1 and seed["weight"] == 80
    assert seed["weight_budget"] == 5400 and seed["weight_forced_s"] == 0
    # The daemon's wait for REST to catch up with the stream, in its seed and its floor.
    assert seed["rest_lag_s"] == 1.0 and seed["seed_s"] >= seed["rest_lag_s"]
    assert seed["floor_bytes"] > 1000 * 100 and seed["seed_s"] > 0
    # The floor: the wait for REST to catch up, then the longer of the request's own time
    # and the wait the budget forces.
    without = max(seed["floor_io_s"], seed["weight_forced_s"])
    assert abs(seed["floor_without_lag_s"] - without) <= 0.006
    assert abs(seed["io_floor_s"] - (seed["rest_lag_s"] + without)) <= 0.006


def okx_seed(seed: dict[str, Any]) -> None:
    # 50 orders a symbol in pages of 100: one short page each, 20 in all, which the floor
    # sends too, within OKX's 60 in any 2 s (so none waits for the window).
    assert seed["page_size"] == 100 and seed["orders_pending_requests"] == 20
    assert seed["rate"] == "60 per 2 s" and seed["rate_forced_s"] == 0
    assert seed["requests"] >= 20 and seed["floor_bytes"] > 1000 * 100
    assert seed["io_floor_s"] > 0 and seed["seed_s"] > 0


SEEDS: dict[str, Callable[[dict[str, Any]], None]] = {"binance": binance_seed,
                                                       "okx": okx_seed}


@pytest.mark.parametrize("venue", sorted(SEEDS))
def test_benchmarks_on_a_venue_run_with_their_floors_peer_and_targets(venue: str) -> None:
    """`--venue <name>`: the same burst, seed and paced load through that venue's daemon,
    beside its own floors (its frames parsed raw; its codec), ccxt.pro's `watch_orders`
    of that venue on the face's WebSocket, and the seed's rate-limited floor, with the
    issue's targets named."""
    done = subprocess.run([sys.executable, "-m", "bench", "--venue", venue, "--scale",
                           "0.01"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["venue"] == venue
    ingest = figures["ingest"]
    assert ingest["book_exact"] and ingest["pushes"] == 2000 and ingest["orders"] == 200
    assert ingest["physical_floor_pushes_per_s"] > 0 and ingest["floor_pushes_per_s"] > 0
    assert ingest["peer"].startswith("ccxt.pro ") and f" {venue} watch_orders" in ingest["peer"]
    assert ingest["peer_exact"] and ingest["peer_updates_parsed"] == 2000
    assert ingest["tracker_vs_physical_floor"] == round(
        ingest["tracker_pushes_per_s"] / ingest["physical_floor_pushes_per_s"], 2)
    assert set(ingest["targets_met"]) == {"book_exact", "peer_exact",
                                          "tracker_vs_physical_floor >= 0.7",
                                          "tracker_vs_peer >= 1.0"}
    assert ingest["targets_met"]["book_exact"] and ingest["targets_met"]["peer_exact"]
    seed = figures["seed"]
    assert seed["open_orders"] == 1000  # 20 symbols x 50
    SEEDS[venue](seed)
    assert set(seed["targets_met"]) == {"seed <= 1.5 x floor"}
    latency = figures["latency"]
    assert latency["seen"] == latency["sent"] == 6000  # every paced order reached the reader
    assert {"p50 <= 2 ms", "p99 <= 5 ms", "all seen"} <= set(latency["targets_met"])
    assert latency["targets_met"]["all seen"]
    assert figures["readers"]["rows"] == 50
