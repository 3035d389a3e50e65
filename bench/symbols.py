"""Many symbols: 50,000 open orders over 300 symbols, from start to live, v2 then v4.

Past 100 symbols the stream takes the one `ALL_SYMBOLS` topic (BitMart allows 100 topics
on a private connection) and drops other symbols' pushes; the seed still reads symbol by
symbol, so its time is its page requests over the pace: v2 at `REST_RATE`, v4 at BitMart's
published 12 list calls per 2 s. Timed from the daemon's start to the book read as live,
with the daemon's peak resident memory (VmHWM) and its memory once live.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench.common import ratio
from bench.floors import PAGE, REST_RATE, io_floor
from bench.live import rss, seed_seconds
from harness import BITMART_V2, BITMART_V4, Daemon, Profile, Sim

# Page size and v2 pace are the 20-symbol seed's (bench/floors.py), which its I/O floor sends.
BOOK, SYMBOLS = 50_000, 300


def run(work: Path, scale: float) -> dict[str, Any]:
    work.mkdir(parents=True)
    symbols = [f"M{n:03d}_USDT" for n in range(SYMBOLS)]
    book = max(int(BOOK * scale), SYMBOLS)
    sim = Sim(work, "--symbols", ",".join(symbols), "--open-orders", str(book // SYMBOLS),
              "--rate", "0", "--seed", "5", ready_timeout=600)
    try:
        for symbol in symbols[:book % SYMBOLS]:  # the remainder, one more on the first ones
            sim.http.post("/populate", json={"per_symbol": 1, "symbol": symbol}
                          ).raise_for_status()
        open_orders = len(sim.open_truth())
        return {"symbols": SYMBOLS, "open_orders": open_orders, "page_size": PAGE,
                "v2_rest_rate": REST_RATE} | {
            p.label: start_to_live(work, sim, p, symbols, book // SYMBOLS)
            for p in (BITMART_V2, BITMART_V4)}
    finally:
        sim.close()


def start_to_live(work: Path, sim: Sim, profile: Profile, symbols: list[str],
                  per_symbol: int) -> dict[str, Any]:
    """BitMart's: its I/O floor (bench.floors.io_floor) sends BitMart's requests."""
    api = profile.label
    daemon = Daemon(work, sim, profile=profile, db=work / f"{api}.db", name=f"daemon-{api}",
                    env={
                        "TRACKER_SYMBOLS": ",".join(symbols), "TRACKER_PAGE_SIZE": str(PAGE),
                        "TRACKER_REST_RATE": str(REST_RATE), "TRACKER_LOG_LEVEL": "info",
                        "TRACKER_PING_INTERVAL": "10", "TRACKER_SILENCE_TIMEOUT": "30"})
    try:
        requests_before = sim.counter("rest_requests")
        started = time.monotonic()
        daemon.start()
        book = daemon.wait_live(timeout=1800)
        live_s = time.monotonic() - started
        figures = {"seeded": book.state["last_seed_orders"],
                   "requests": sim.counter("rest_requests") - requests_before,
                   "start_to_live_s": round(live_s, 2),
                   "seed_s": round(seed_seconds(daemon.log), 2),
                   "rss_mb_peak": round(peak_rss(daemon.pid) / 2**20, 1),
                   "rss_mb_live": round(rss(daemon.pid) / 2**20, 1)}
    finally:
        daemon.close()
    # With the daemon gone, so that no call of its shares the floor's rate windows.
    floor_s = asyncio.run(io_floor(sim.rest_url, symbols, per_symbol, figures["requests"], api))
    return figures | {"io_floor_s": round(floor_s, 2),
                      "seed_vs_floor": ratio(figures["seed_s"], floor_s),
                      "targets_met": {"seed <= 1.5 x floor": figures["seed_s"] <= 1.5 * floor_s}}


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no VmHWM")
