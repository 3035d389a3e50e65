"""What the simulator's face tests of every venue do alike: their settings, which a test
changes by parametrizing them, and the waits on a WebSocket client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import websockets

from simulator.state import Settings


def settings(request: pytest.FixtureRequest, **fields: Any) -> Settings:
    """Port 0 and a test file's `fields`, then the test's own changes (`with_settings`)."""
    return Settings(port=0, **fields, **getattr(request, "param", {}))


def with_settings(**overrides: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("settings", [overrides], indirect=True)


async def quiet(read: Callable[[float], Awaitable[Any]], within: float = 0.3) -> None:
    """Nothing comes for `within` seconds (`read`: a client's next message, with a timeout)."""
    with pytest.raises(TimeoutError):
        message = await read(within)
        pytest.fail(f"expected nothing, got {message!r}")


async def closed(ws: websockets.ClientConnection, within: float
                 ) -> websockets.ConnectionClosed:
    """The close that ends the connection within `within` seconds, whatever comes before."""
    with pytest.raises(websockets.ConnectionClosed) as info:
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    return info.value
