"""Load for the benchmarks: pushes made ahead of time and written as fast as the socket
takes them (a burst), or written at a fixed rate with each send time kept (a pace).

These pushes are about orders the order store does not hold (ids from BASE_ID up): they
measure how fast a client takes pushes in, not the exchange's matching. They go straight
to the connection's socket, past the fault machinery, so what is timed is the client.
Which orders and states a load pushes is decided here, the same for every venue; each
face spells them in its venue's frames (`Face.load_frame`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import web

BASE_ID = 998_000_000_000_000_000  # 18 digits, as the exchange's, above the store's ids


class LoadPush(NamedTuple):
    """One push of a load: a buy limit order of `size` units at price 1.5, created at
    `start_ms`, in `state` after `filled` of its units filled (one a millisecond)."""

    order_id: int
    symbol: str
    state: str
    filled: int
    size: int
    start_ms: int


# A face's spelling of one push: the frame its venue would send.
Spell = Callable[[LoadPush], str | bytes]


def burst_pushes(orders: int, pushes: int, symbol: str, start_ms: int) -> list[LoadPush]:
    """`pushes` pushes over `orders` orders, step by step across all orders (so consecutive
    pushes touch different orders, as a busy account's do): each order opens, fills one
    unit per step, and ends filled at its last step."""
    steps = max(pushes // orders, 1)
    size = max(steps - 1, 1)
    planned = []
    for step in range(steps):
        state = "new" if step == 0 else "filled" if step == size else "partially_filled"
        for n in range(orders):
            planned.append(LoadPush(BASE_ID + n, symbol, state, step, size, start_ms))
    return planned


@dataclass
class Load:
    """What the benchmarks read back: when sending began and ended, and (for a pace)
    when each order's push went out, in time.time_ns() of this machine."""

    kind: str = ""
    frames: int = 0
    sent: int = 0
    started_ns: int = 0
    finished_ns: int = 0
    sent_ns: dict[str, int] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    def describe(self, with_times: bool) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "kind": self.kind, "frames": self.frames, "sent": self.sent,
            "started_ns": self.started_ns, "finished_ns": self.finished_ns,
            "running": self.task is not None and not self.task.done()}
        if with_times:
            answer["sent_ns"] = self.sent_ns
        return answer


async def _send(ws: web.WebSocketResponse, item: str | bytes) -> None:
    if isinstance(item, bytes):
        await ws.send_bytes(item)
    else:
        await ws.send_str(item)


# Frames a burst writes to the socket at once (a few hundred KB): the client reads the
# same frames as from one write each, and the simulator, which shares the machine's cores
# with the client it measures, pays one system call a chunk, not one a frame (about 6 us a
# frame through aiohttp's writer: a fifth of a core during a burst, docs/measured.md).
BURST_CHUNK = 256


async def send_burst(targets: list[tuple[web.WebSocketResponse, list[str | bytes]]],
                     load: Load) -> None:
    """Each socket's frames, as fast as it takes them, one socket after another."""
    load.started_ns = time.time_ns()
    for ws, frames in targets:
        writer = ws._writer  # aiohttp's own: its transport, and its drain
        if writer is None or ws.compress:  # a compressed frame is aiohttp's to make
            for item in frames:
                await _send(ws, item)
                load.sent += 1
            continue
        for first in range(0, len(frames), BURST_CHUNK):
            chunk = frames[first:first + BURST_CHUNK]
            writer.transport.write(b"".join(map(wire_frame, chunk)))
            load.sent += len(chunk)
            await writer.protocol._drain_helper()
    load.finished_ns = time.time_ns()


def wire_frame(item: str | bytes) -> bytes:
    """A server's WebSocket frame of `item`, whole (FIN), unmasked, uncompressed (RFC 6455
    5.2): text for a str, binary for bytes."""
    payload, opcode = (item, 0x82) if isinstance(item, bytes) else (item.encode(), 0x81)
    size = len(payload)
    if size < 126:
        head = bytes((opcode, size))
    elif size < 1 << 16:
        head = bytes((opcode, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((opcode, 127)) + size.to_bytes(8, "big")
    return head + payload


async def send_pace(targets: list[tuple[Spell, list[web.WebSocketResponse]]], load: Load,
                    rate: float, seconds: float, symbol: str, first_id: int) -> None:
    """New orders at `rate` a second: every millisecond, the pushes now due, each spelled
    once for the sockets of each face."""
    load.started_ns = time.time_ns()
    start = time.monotonic()
    total = int(rate * seconds)
    start_ms = load.started_ns // 1_000_000
    while load.sent < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        while load.sent < due:
            order_id = first_id + load.sent
            push = LoadPush(order_id, symbol, "new", 0, 1, start_ms)
            spelled = [(spell(push), sockets) for spell, sockets in targets]
            load.sent_ns[str(order_id)] = time.time_ns()
            for item, sockets in spelled:
                for ws in sockets:
                    await _send(ws, item)
            load.sent += 1
        await asyncio.sleep(0.001)
    load.finished_ns = time.time_ns()
