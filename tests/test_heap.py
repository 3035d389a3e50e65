"""Freed C-heap memory goes back to the system when `tracker.heap.release` is called, as
the daemon does every few seconds. In a fresh interpreter (a subprocess): its heap holds only
what the test puts there."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import json
from tracker import heap

def resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

# 100 MB of buffers of 2 KB (each from malloc, not Python's small-object arenas), and a few
# made after them that stay: the freed ones are then a hole inside the heap, which glibc
# does not give back by itself the way it does a free end of the heap.
buffers = [bytes(2048) for _ in range(50_000)]
kept = [bytes(2048) for _ in range(100)]
full = resident()
del buffers
freed = resident()
released = heap.release()
print(json.dumps({"full": full, "freed": freed, "after": resident(), "released": released}))
"""
MB = 2**20


def test_freed_heap_pages_go_back_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True).stdout
    rss = json.loads(out)
    assert rss["released"] is True  # glibc, as on every machine the daemon ships for
    assert rss["freed"] > rss["full"] - 20 * MB, "freeing alone already gave the memory back"
    assert rss["after"] < rss["freed"] - 80 * MB, rss
