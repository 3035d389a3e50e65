"""A client-side pacer, so the tracker stays inside the exchange's published limits."""

from __future__ import annotations

import asyncio
import time
from collections import deque

# The longest any "slow down" from the exchange is obeyed in one go: a header that says
# a year (a bug, or a hostile proxy) must not park the tracker for a year.
MAX_HOLD_S = 60.0

# Send times jitter (a slow loop turn, a slow request before), and the exchange's window
# counts arrivals: pacing at exactly the limit lets jitter put one call too many into a
# window. Pacing at 90% of it leaves room for that.
HEADROOM = 0.9


class Pacer:
    """At most `calls` per `period` seconds, spread evenly (no bursts that trip a window),
    with HEADROOM."""

    def __init__(self, calls: float, period: float = 1.0) -> None:
        self.interval = period / (calls * HEADROOM) if calls > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)

    def hold(self, seconds: float) -> None:
        """The exchange said "slow down": no call before `seconds` from now (at most
        MAX_HOLD_S)."""
        self._next = max(self._next, time.monotonic() + min(seconds, MAX_HOLD_S))


class Window:
    """At most `calls` in any `period` seconds, in bursts: for rare calls such as tokens,
    where spreading them evenly would make a needed refresh wait for no reason."""

    def __init__(self, calls: int, period: float) -> None:
        self.calls = calls
        self.period = period
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

        self._not_before = 0.0

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._not_before > now:
                await asyncio.sleep(self._not_before - now)
                now = time.monotonic()
            while self._times and self._times[0] <= now - self.period:
                self._times.popleft()
            if len(self._times) >= self.calls:
                await asyncio.sleep(self._times[0] + self.period - now)
                self._times.popleft()
            self._times.append(time.monotonic())

    def hold(self, seconds: float) -> None:
        """The exchange refused a call for the rate: none before `seconds` from now. The
        window's own count cannot know of calls made before this process started (a
        restart loop), so the refusal is what tells."""
        self._not_before = max(self._not_before, time.monotonic() + min(seconds, MAX_HOLD_S))
