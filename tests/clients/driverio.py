"""The line protocol between a conformance test and a client driver (a subprocess).

The drivers run another environment's packages (`make clients`), so they import nothing of
this project's: this module is standard library only, and conformance.py puts its directory
on their path.

stdin: first the configuration (URLs and keys: never argv, which `ps` shows), then one
command per line, `{"id": n, "op": "...", "args": {...}}`, run one after another.
stdout: one JSON object per line: `{"id": n, "result": ...}` or `{"id": n, "error": {...}}`
per command, and `{"event": ...}` whenever the client hands the driver something unasked
(a stream's message; `ready` once the client is built). Nothing else is written to stdout;
the clients' logs go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Op = Callable[..., Awaitable[Any]]


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


def error(exc: BaseException) -> dict[str, Any]:
    """The exception as the test sees it: its class, its text and a venue code if it has one."""
    code = getattr(exc, "status_code", None)  # Binance's SDK: the venue's error code
    return {"type": type(exc).__name__, "message": str(exc),
            "code": code if isinstance(code, int) else None}


async def serve(start: Callable[[dict[str, Any]], Awaitable[tuple[dict[str, Op], Op]]]
                ) -> None:
    """Read the configuration, build the client (`start` returns its ops and a closer), then
    answer commands until stdin ends."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    ops, close = await start(json.loads(await reader.readline()))
    emit({"event": "ready"})
    try:
        while line := await reader.readline():
            command = json.loads(line)
            try:
                result = await ops[command["op"]](**command.get("args", {}))
            except Exception as exc:
                emit({"id": command["id"], "error": error(exc)})
            else:
                emit({"id": command["id"], "result": result})
    finally:
        await close()
