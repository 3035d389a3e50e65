"""Steady state: one daemon (SQLite book) following the simulator's order flow for 30
minutes, its memory and CPU sampled every few seconds.

A tracker runs for months: what it holds must stop growing once it has warmed up, and so
must what each minute of flow costs it. The flow is the simulator's own (new orders, part
fills, fills, cancels, market orders) at a few hundred events a second, each one push. Its
cancel weight follows the open-order count back to where it started, as a market maker
keeps its book at a size, so that the open set neither grows nor drains: what grows with
the run is then only what a running book keeps by design (every order seen and the journal
of every update) or what it should not keep at all.

The first minute is the warm-up; the growth is measured from its end. Reconciles come at
the same points of the run at every scale (every `RECONCILE_S` x scale), as in a deployment.
At the end the flow stops and the book must equal the simulator's truth.

    python -m bench --only steady --scale 0.1    # 3 minutes
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ratio
from bench.live import cpu_seconds, rss
from harness import FAST, Daemon, Sim, ro_connect
from tracker.config import Config

RATE = 300.0  # flow events a second, each one push
OPEN_PER_SYMBOL = 1000  # over the simulator's three default symbols
# The flow's mix with as many closing events (fill, cancel) as opening ones (new); part
# fills and market orders (which fill at once) leave the open count as it is.
MIX = {"new": 4.0, "partial": 2.0, "fill": 1.5, "cancel": 2.5, "market": 0.5}
GAIN = 10.0  # cancel weight added per unit of relative excess of open orders
DURATION_S, MIN_DURATION_S = 1800.0, 60.0
WARMUP_S = 60.0  # the first minute: the baseline is taken at its end
SAMPLE_S = 2.0
RECONCILE_S = Config().reconcile_interval  # scaled with the run
GROWTH_LIMIT = 1.05
CPU_WINDOW_MINUTES = 5  # the CPU growth compares the median minute of the first and last five


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the flow started
    rss: int  # bytes
    cpu: float  # the daemon's user + system seconds so far
    open_orders: int  # the simulator's
    book_orders: int  # rows of the book's orders table
    journal: int  # the journal's highest seq


def run(work: Path, scale: float) -> dict[str, Any]:
    duration = max(DURATION_S * scale, MIN_DURATION_S)
    work.mkdir(parents=True)
    sim = Sim(work, "--open-orders", str(OPEN_PER_SYMBOL), "--rate", "0", "--seed", "11",
              ready_timeout=120)
    reconcile = max(RECONCILE_S * scale, 30.0)
    daemon = Daemon(work, sim, env=deployed() | {
        "TRACKER_RECONCILE_INTERVAL": str(reconcile), "TRACKER_JOURNAL_KEEP_DAYS": "30"})
    try:
        daemon.start()
        daemon.wait_live(timeout=120)
        target = sim.stats()["open_orders"]
        pushes_before = sim.counter("pushes_sent")
        sim.flow(RATE)
        samples = sample_steadily(sim, daemon, duration, target)
        pushes = sim.counter("pushes_sent") - pushes_before
        sim.flow(0)
        converged = book_converges(sim, daemon)
        return figures(samples, target, pushes, duration, reconcile) | converged
    finally:
        daemon.close()
        sim.close()


def deployed() -> dict[str, str]:
    """The defaults that the harness's FAST timings shorten for the tests' patience: a
    daemon that pings every 2 s is not the one that runs for months."""
    defaults = Config()
    return {name: str(getattr(defaults, name.removeprefix("TRACKER_").lower()))
            for name in FAST if name != "TRACKER_LOG_FORMAT"}


def sample_steadily(sim: Sim, daemon: Daemon, duration: float, target: int) -> list[Sample]:
    """A sample every SAMPLE_S until `duration`, steering the cancel weight after each."""
    book = ro_connect(daemon.db)
    samples: list[Sample] = []
    started = time.monotonic()
    try:
        while True:
            t = min(time.monotonic() - started, duration)
            samples.append(sample(sim, daemon, book, t))
            assert daemon.alive(), f"the daemon exited: {daemon.tail()}"
            steer(sim, samples[-1].open_orders, target)
            if t >= duration:
                return samples
            due = min(len(samples) * SAMPLE_S, duration)
            time.sleep(max(due - (time.monotonic() - started), 0))
    finally:
        book.close()


def sample(sim: Sim, daemon: Daemon, book: sqlite3.Connection, t: float) -> Sample:
    memory, cpu = rss(daemon.pid), cpu_seconds(daemon.pid)
    orders = book.execute("SELECT count(*) FROM orders").fetchone()[0]
    journal = book.execute("SELECT COALESCE(MAX(seq), 0) FROM order_events").fetchone()[0]
    return Sample(t, memory, cpu, sim.stats()["open_orders"], orders, journal)


def steer(sim: Sim, open_orders: int, target: int) -> None:
    """More cancels while the open set is above `target`, fewer below: left to itself the
    flow's open count wanders (and drains where part fills end in fills)."""
    excess = open_orders / target - 1 if target else 0.0
    cancel = min(max(MIX["cancel"] + GAIN * excess, 0.5), 2 * MIX["cancel"])
    mix = MIX | {"cancel": round(cancel, 3)}
    sim.http.patch("/flow", json={"mix": ",".join(f"{k}={v}" for k, v in mix.items())}
                   ).raise_for_status()


def book_converges(sim: Sim, daemon: Daemon) -> dict[str, Any]:
    """Once the flow stopped: whether the book equals the truth, and how soon."""
    started = time.monotonic()
    try:
        daemon.wait_converged(sim, timeout=60)
    except AssertionError as exc:
        return {"book_equals_truth": False, "differences": str(exc)[:400]}
    return {"book_equals_truth": True,
            "converged_after_flow_s": round(time.monotonic() - started, 2)}


def at(samples: list[Sample], t: float) -> Sample:
    """The sample nearest to `t`: samples are SAMPLE_S apart, the run's end is one."""
    return min(samples, key=lambda s: abs(s.t - t))


def cpu_per_minute(samples: list[Sample], start: float, end: float) -> float:
    a, b = at(samples, start), at(samples, end)
    return round(60 * (b.cpu - a.cpu) / (b.t - a.t), 2) if b.t > a.t else float("nan")


def cpu_each_minute(samples: list[Sample], warm: float, end: float,
                    minute: float) -> list[float]:
    """The daemon's CPU seconds a minute in each whole window of `minute` seconds (a
    minute, or less in a run too short for two) after the warm-up."""
    starts = range(int(warm), int(end - minute) + 1, int(minute))
    return [cpu_per_minute(samples, t, t + minute) for t in starts]


def cpu_growth(minutes: list[float]) -> float | None:
    """The median minute of the last few against that of the first few after the warm-up.
    A minute that holds a reconcile costs a second or so more; the median leaves that one
    out, so what it compares is the cost of the same flow on a book that has grown."""
    n = min(CPU_WINDOW_MINUTES, len(minutes) // 2)
    return ratio(statistics.median(minutes[-n:]), statistics.median(minutes[:n])) if n else None


def figures(samples: list[Sample], target: int, pushes: int, duration: float,
            reconcile: float) -> dict[str, Any]:
    """The growth from the end of the warm-up (the first minute, or the first half of a
    shorter run), and the CPU of the minutes after it against the last minutes'."""
    warm = min(WARMUP_S, duration / 2)
    minute = min(60.0, duration - warm)
    first, end = at(samples, warm), samples[-1]
    after = [s for s in samples if s.t >= first.t]
    peak = max(after, key=lambda s: s.rss)
    added = end.book_orders - first.book_orders
    mb = 2**20
    growth = {"end": ratio(end.rss, first.rss), "max": ratio(peak.rss, first.rss)}
    cpu_minutes = cpu_each_minute(samples, warm, end.t, minute)
    cpu = cpu_growth(cpu_minutes)
    return {
        "duration_s": round(end.t, 1), "flow_events_per_s": RATE,
        "pushes_per_s": round(pushes / duration, 1), "reconcile_interval_s": reconcile,
        "samples": len(samples), "sample_every_s": SAMPLE_S,
        "rss_mb_first_minute": round(first.rss / mb, 1), "rss_mb_end": round(end.rss / mb, 1),
        "rss_mb_max_after_first_minute": round(peak.rss / mb, 1),
        "rss_max_at_s": round(peak.t, 1), "growth_ratio": growth,
        # Reconciles step the RSS up (their transient rows leave the allocator's arenas
        # partly used); the series shows whether the steps stop.
        "rss_mb_each_minute": [round(at(samples, t).rss / mb, 1)
                               for t in range(60, int(end.t) + 1, 60)],
        "cpu_s_each_minute": cpu_minutes,
        "cpu_growth_ratio": cpu,
        "open_orders": {"start": target, "end": end.open_orders,
                        "min": min(s.open_orders for s in samples),
                        "max": max(s.open_orders for s in samples)},
        # What the book holds by design, beside the memory: every order seen (closed ones
        # too) and a journal row for every update. The daemon's memory holds the open
        # orders and those closed within closed_in_memory (tracker/book.py), so the bytes
        # per order added should stay near zero; a leak would follow the journal or time.
        "book_orders": {"first_minute": first.book_orders, "end": end.book_orders},
        "journal_rows": {"first_minute": first.journal, "end": end.journal},
        "rss_bytes_per_order_added": round((end.rss - first.rss) / added) if added else None,
        "targets_met": {"rss growth after the first minute <= 5%":
                        max(growth.values()) <= GROWTH_LIMIT,
                        "cpu growth after the first minute <= 5%":
                        cpu is not None and cpu <= GROWTH_LIMIT},
    }

