"""BitMart's published rate limits: fixed-window request counters, the limits of each v4
endpoint, and the headers that report them (where "Remaining" means calls used so far)."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.venues.bitmart import protocol

# Per API key (protocol §2.4, §2.5, §2.8): (calls, window seconds).
V4_LIMITS = {
    "open-orders": (12, 2),
    "order": (50, 2),
    "order-trades": (12, 2),
    "submit": (40, 2),
    "cancel": (40, 2),
}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    used: int  # calls used in this window, which BitMart sends as "Remaining"
    limit: int
    window_s: int

    def headers(self) -> dict[str, str]:
        return {
            protocol.RATE_LIMIT_USED: str(self.used),
            protocol.RATE_LIMIT_LIMIT: str(self.limit),
            protocol.RATE_LIMIT_RESET: str(self.window_s),
            protocol.RATE_LIMIT_MODE: "UID",
        }


class FixedWindow:
    def __init__(self, limit: int, window_s: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self._counts: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, now_ms: int) -> Verdict:
        window = now_ms // (self.window_s * 1000)
        start, used = self._counts.get(key, (window, 0))
        if start != window:
            used = 0
        allowed = used < self.limit
        if allowed:
            used += 1
        self._counts[key] = (window, used)
        return Verdict(allowed, used, self.limit, self.window_s)
