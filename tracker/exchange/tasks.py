"""Background tasks of the exchange's I/O edges whose failures are someone else's to report."""

from __future__ import annotations

import asyncio
from typing import Any


def unreported(task: asyncio.Task[Any]) -> None:
    """A done-callback for a task whose failure another path sees and reports (a keeper's
    ping on a closing connection: its reader sees the same close; a read begun ahead and
    never asked for: the seed that asks reads again). Its exception is taken here, so that
    asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()
