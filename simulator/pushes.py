"""A connection's outgoing pushes through the push faults: dropped, duplicated (or sent
again restamped), delayed, held back behind the next one.

When a fault fires, and what it does to the order of a connection's pushes, is the same for
every venue, so it is written once, here; a face says only how it spells a push and how it
queues a frame for its connection. The faults draw from the simulator's seeded fault RNG in
a fixed order (drop, duplicate, then per copy delay and reorder), so a scenario replays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from simulator.state import Simulator

REORDER_HOLD_S = 0.5  # a held-back push goes out after the next one, or after this

Frame = str | bytes


class Pushes:
    """One connection's pushes: `deliver` takes a push as the face spells it, and `put`
    queues each frame that survives the faults on the connection's outgoing queue."""

    def __init__(self, sim: Simulator, loop: asyncio.AbstractEventLoop,
                 put: Callable[[Frame], None]) -> None:
        self.sim = sim
        self.loop = loop
        self.put = put
        self.held: Frame | None = None  # the push held back by `push_reorder`

    def deliver(self, frame: Frame, repeat: Callable[[], Frame] | None = None) -> None:
        """`repeat`, from a face whose venue re-sends a push restamped (OKX), spells that
        second copy: the `push_repeat` fault sends it after the push, as a duplicate (it is
        called only then, so a push costs one spelling)."""
        sim, faults = self.sim, self.sim.faults
        sim.stats["pushes_generated"] += 1
        if sim.chance(faults.push_drop, "push_drop"):
            return
        copies = [frame] * (2 if sim.chance(faults.push_duplicate, "push_duplicate") else 1)
        if repeat is not None and sim.chance(faults.push_repeat, "push_repeat"):
            copies.append(repeat())
        for copy in copies:
            if faults.push_delay_ms:
                sim.injected["push_delay"] += 1
                delay = sim.fault_rng.uniform(0, faults.push_delay_ms) / 1000
                self.loop.call_later(delay, self._release, copy)
            else:
                self._release(copy)

    def _release(self, frame: Frame) -> None:
        if self.held is not None:
            held, self.held = self.held, None
            self.put(frame)
            self.put(held)
        elif self.sim.chance(self.sim.faults.push_reorder, "push_reorder"):
            self.held = frame
            self.loop.call_later(REORDER_HOLD_S, self._flush_held, frame)
        else:
            self.put(frame)

    def _flush_held(self, frame: Frame) -> None:
        # Only if it is still held: the next push may have released it already.
        if self.held is frame:
            self.held = None
            self.put(frame)


async def write(sim: Simulator, ws: web.WebSocketResponse,
                out: asyncio.Queue[tuple[str, Frame] | None]) -> None:
    """A connection's writer, the same on every face: each queued `(kind, frame)` in order
    until None (`push`, `ping`, `pong`, or any other kind of frame: text as text, bytes as
    binary), all swallowed while the `ws_silent` fault holds, and the end of the connection
    taken quietly."""
    while (item := await out.get()) is not None:
        kind, frame = item
        if sim.faults.ws_silent:
            sim.injected["ws_silent_frame"] += 1
            continue
        # A pong echoes the peer's ping, which aiohttp hands over as a bytearray.
        data = frame.encode() if isinstance(frame, str) else bytes(frame)
        try:
            if kind == "ping":
                await ws.ping(data)
            elif kind == "pong":
                await ws.pong(data)
            elif isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        except (ConnectionError, RuntimeError):
            return
        if kind == "push":
            sim.stats["pushes_sent"] += 1
