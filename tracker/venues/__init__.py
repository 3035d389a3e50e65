"""The venues the tracker speaks to, one package each (`tracker.venue` says what a package
supplies). The registry names them without importing them: a venue is imported when a
configuration asks for it, so the core imports no venue's code."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.venue import Venue

NAMES = ("bitmart", "binance", "okx")  # the `venue` setting's choices; the first is the default


def get(name: str) -> Venue:
    """The venue of that name; the caller has checked it is one of NAMES."""
    return importlib.import_module(f"tracker.venues.{name}.venue").VENUE
