"""A full disk on demand, for the write-stall test and the soak's disk-full scenario."""

from __future__ import annotations

import contextlib
from pathlib import Path


def fill_disk(directory: Path) -> Path:
    """Take every free byte of the file system `directory` is on (mount a small tmpfs
    there first); delete the file returned to give the space back."""
    filler = directory / "filler"
    for block in (1 << 20, 4096, 1):
        with contextlib.suppress(OSError), filler.open("ab", buffering=0) as f:
            while True:
                f.write(b"\0" * block)
    return filler
