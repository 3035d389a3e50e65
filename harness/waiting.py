"""Waiting for a condition against a deadline, so that nothing sleeps in place of a check."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float, what: str, *,
               interval: float = 0.1, context: Callable[[], str] | None = None) -> T:
    """Poll `check` until it returns without an AssertionError, and not `False`; its value
    is returned. A check written as a condition (`lambda: oid in book`) waits for it to
    hold: returning False is not done (it was, and such waits passed at once).

    On the deadline the last AssertionError is raised again, with what was awaited and
    (from `context`) whatever helps to see why, e.g. the tail of the daemon's log.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            assert value is not False, "the condition does not hold"
            return value
        except AssertionError as exc:
            if time.monotonic() >= deadline:
                extra = f"\n--- context ---\n{context()}" if context else ""
                raise AssertionError(f"not within {timeout:g} s: {what}: {exc}{extra}") from None
        time.sleep(interval)
