"""Handing the C heap's free pages back to the system, every few seconds (tracker.sync).

A splice makes many short-lived buffers at once (REST page bodies, the JSON that binds its
journal rows), 100,000 orders' worth at a start, and under flow SQLite's writes and the
interpreter's buffers leave holes in the same heap. glibc keeps the pages left free inside
its heap, so the daemon's resident memory would stay at its peak for good and creep up
with the run; `malloc_trim(0)` gives every whole free page back. Where the C library has
no such call (musl, macOS), nothing is done: the memory is reused by later allocations,
only not returned.
"""

from __future__ import annotations

import ctypes
from typing import Any


def _malloc_trim() -> Any:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release() -> bool:
    """Give the heap's free pages back; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
