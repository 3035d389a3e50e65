"""Handing the C heap's free pages back to the system after a splice.

A splice makes many short-lived buffers at once (REST page bodies, the JSON that binds its
journal rows), 100,000 orders' worth at a start. glibc keeps the pages they leave free
inside its heap, so the daemon's resident memory would stay at the splice's peak for good;
`malloc_trim(0)` gives every whole free page back. Where the C library has no such call
(musl, macOS), nothing is done: the memory is reused by later allocations, only not
returned.
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
