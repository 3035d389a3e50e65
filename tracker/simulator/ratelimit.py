"""Fixed-window request counters with BitMart's header semantics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    used: int  # what BitMart calls X-BM-RateLimit-Remaining: calls used in this window
    limit: int
    window_s: int

    def headers(self) -> dict[str, str]:
        return {
            "X-BM-RateLimit-Remaining": str(self.used),
            "X-BM-RateLimit-Limit": str(self.limit),
            "X-BM-RateLimit-Reset": str(self.window_s),
            "X-BM-RateLimit-Mode": "UID",
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
