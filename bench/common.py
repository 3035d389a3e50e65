"""Small helpers the benchmarks share."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def poll(check: Callable[[], bool], timeout: float, interval: float) -> int:
    """time.time_ns() at the first check that holds; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.time_ns()
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:g} s")
        time.sleep(interval)


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max, in the values' unit, rounded to 3 places."""
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": round(statistics.median(ordered), 3), "p99": round(p99, 3),
            "max": round(ordered[-1], 3), "n": len(ordered)}
