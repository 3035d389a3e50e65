"""The IP's request weight as Binance counts it, and the holds it asks for: what every
REST call asks before it goes.

Binance counts weight per IP a minute and says how much is used in every answer
(`X-MBX-USED-WEIGHT-1M`); past its limit it answers 429, and an IP that keeps calling is
banned (418) for 2 minutes to 3 days ([BN] rest-api.md "LIMITS"). So a call waits for the
next minute rather than pass the budget, waits out a 429's `Retry-After`, and during a ban
is not sent at all.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import structlog

from tracker.exchange.errors import RateLimited
from tracker.exchange.http import Answer, header_int
from tracker.exchange.ratelimit import MAX_HOLD_S
from tracker.venues.binance import protocol as p

log = structlog.get_logger("tracker.rest")

LONGEST_BAN_S = 3 * 24 * 3600.0  # "2 minutes to 3 days" ([BN] rest-api.md)
SHORTEST_BAN_S = 120.0  # a 418 without Retry-After: the shortest ban
MINUTE_MS = 60_000
ROLLOVER_S = 0.5  # past the minute, for our clock's error in the server's


class Weights:
    """The IP's request weight this minute, as Binance last said it plus what was sent
    since, and the holds it asked for. Minutes are the server's (its clock is ours plus
    the measured skew)."""

    def __init__(self, budget: int, server_ms: Callable[[], int], stats: Counter[str], *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.budget = budget
        self.server_ms = server_ms
        self.stats = stats
        self.clock = clock  # monotonic seconds, for the holds
        self.sleep = sleep
        self.minute = -1
        self.used = 0
        self.hold_until = 0.0  # monotonic: after a 429, per its Retry-After
        self.banned_until = 0.0  # monotonic: after a 418
        self._lock = asyncio.Lock()

    async def admit(self, weight: int) -> None:
        """Returns once a call of `weight` may go; RateLimited while the IP is banned, or
        held for longer than a call should wait."""
        now = self.clock()
        if self.banned_until > now:
            raise RateLimited(f"Binance banned this IP (HTTP 418): no call for "
                              f"{self.banned_until - now:.0f} s more")
        if self.hold_until > now:
            if self.hold_until - now > MAX_HOLD_S:
                raise RateLimited(f"Binance asked for no call for {self.hold_until - now:.0f} s"
                                  " (HTTP 429)")
            await self.sleep(self.hold_until - now)
        async with self._lock:
            self._roll()
            if self.used + weight > self.budget:
                wait = ((self.minute + 1) * MINUTE_MS - self.server_ms()) / 1000 + ROLLOVER_S
                self.stats["weight_waits"] += 1
                log.info("rest_weight_wait", used=self.used, weight=weight,
                         budget=self.budget, wait_s=round(wait, 2))
                await self.sleep(max(wait, 0.0))
                self._roll()
            self.used += weight

    def _roll(self) -> None:
        minute = self.server_ms() // MINUTE_MS
        if minute != self.minute:
            self.minute, self.used = minute, 0

    def told(self, answer: Answer) -> None:
        """What Binance says the IP has used this minute (its count includes other
        programs on the same IP)."""
        used = header_int(answer.headers, p.USED_WEIGHT_HEADER)
        if used is not None and self.server_ms() // MINUTE_MS == self.minute:
            self.used = max(self.used, used)

    def refused(self, answer: Answer) -> None:
        """A 429 or a 418: hold off, as long as its Retry-After says."""
        seconds = header_int(answer.headers, p.RETRY_AFTER)
        now = self.clock()
        if answer.status_code == p.HTTP_BANNED:
            ban = min(float(seconds or SHORTEST_BAN_S), LONGEST_BAN_S)
            self.banned_until = max(self.banned_until, now + ban)
            log.error("rest_banned", ban_s=ban)
        else:
            wait = (float(seconds) if seconds is not None else
                    ((self.minute + 1) * MINUTE_MS - self.server_ms()) / 1000 + ROLLOVER_S)
            self.hold_until = max(self.hold_until, now + wait)
