"""Load for the benchmarks: pushes made ahead of time and written as fast as the socket
takes them (a burst), or written at a fixed rate with each send time kept (a pace).

These pushes are about orders the order store does not hold (ids from BASE_ID up): they
measure how fast a client takes pushes in, not the exchange's matching. They go straight
to the connection's socket, past the fault machinery, so what is timed is the client.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tracker.venues.bitmart import protocol

BASE_ID = 998_000_000_000_000_000  # 18 digits, as the exchange's, above the store's ids


def push(order_id: int, symbol: str, state: str, filled: int, size: int,
         update_ms: int) -> dict[str, str]:
    """A push row in the exchange's shape (every value a string); price 1.5."""
    filled_notional = f"{filled * 3 // 2}.{5 if filled % 2 else 0}"
    row = {"symbol": symbol, "side": "buy", "type": "limit", "notional": "",
           "size": str(size), "ms_t": str(update_ms), "price": "1.5",
           "filled_notional": filled_notional, "filled_size": str(filled),
           "margin_trading": "0", "state": protocol.LEGACY_STATE_CODE[state],
           "order_id": str(order_id), "order_type": "0", "client_order_id": "0",
           "create_time": str(update_ms), "update_time": str(update_ms + filled),
           "order_mode": "spot", "entrust_type": "NORMAL", "order_state": state}
    if filled:
        row |= {"exec_type": "M", "detail_id": f"{order_id}{filled:03d}",
                "last_fill_time": str(update_ms + filled), "last_fill_price": "1.5",
                "last_fill_count": "1"}
    return row


def burst_rows(orders: int, pushes: int, symbol: str, start_ms: int) -> list[dict[str, str]]:
    """`pushes` rows over `orders` orders, step by step across all orders (so consecutive
    pushes touch different orders, as a busy account's do): each order opens, fills one
    unit per step, and ends filled at its last step."""
    steps = max(pushes // orders, 1)
    size = max(steps - 1, 1)
    rows = []
    for step in range(steps):
        state = "new" if step == 0 else "filled" if step == size else "partially_filled"
        for n in range(orders):
            rows.append(push(BASE_ID + n, symbol, state, step, size, start_ms))
    return rows


def frame(rows: list[dict[str, str]], compress: bool) -> str | bytes:
    text = json.dumps({"table": protocol.ORDER_TABLE, "data": rows}, separators=(",", ":"))
    return protocol.deflate(text.encode()) if compress else text


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


async def send_burst(sockets: list[web.WebSocketResponse], load: Load,
                     frames: list[str | bytes]) -> None:
    load.started_ns = time.time_ns()
    for ws in sockets:
        for item in frames:
            await _send(ws, item)
            load.sent += 1
    load.finished_ns = time.time_ns()


async def send_pace(sockets: list[web.WebSocketResponse], load: Load, rate: float,
                    seconds: float, symbol: str, first_id: int, compress: bool) -> None:
    """New orders at `rate` a second: every millisecond, the pushes now due."""
    load.started_ns = time.time_ns()
    start = time.monotonic()
    total = int(rate * seconds)
    start_ms = load.started_ns // 1_000_000
    while load.sent < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        while load.sent < due:
            order_id = first_id + load.sent
            item = frame([push(order_id, symbol, "new", 0, 1, start_ms)], compress)
            load.sent_ns[str(order_id)] = time.time_ns()
            for ws in sockets:
                await _send(ws, item)
            load.sent += 1
        await asyncio.sleep(0.001)
    load.finished_ns = time.time_ns()
