"""One row of a settings table, shared by the core's table (`tracker.config`) and each
venue's own (its API family, its paging passes): every row gives the `TRACKER_*` name, the
checks and docs/configuration.md's table, so none of them can drift from the others."""

from __future__ import annotations

from dataclasses import field
from typing import Any

Number = int | float


class ConfigError(Exception):
    """One bad setting, named in the message."""


def setting(default: Any, help: str, *, shown: str | None = None, low: Number | None = None,
            high: Number | None = None, above: Number | None = None,
            below: Number | None = None, why: str = "",
            choices: tuple[str, ...] | None = None) -> Any:
    """One row: its default, its help (docs/configuration.md's "meaning"), how the default is shown
    there when its value says too little, and what range it takes. `low`/`high` are
    inclusive, `above`/`below` exclusive; `why` is said beside a refusal of `low`, `high`
    or `below`."""
    meta = {"help": help, "shown": shown, "low": low, "high": high, "above": above,
            "below": below, "why": why, "choices": choices}
    return field(default=default, metadata=meta)
