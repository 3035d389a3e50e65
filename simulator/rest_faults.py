"""The REST faults: slow, failing, throttled, trickling and endless answers on the REST
paths of every face, never on /control or a WebSocket.

Which paths are a venue's and how it refuses a call are its face's to say
(`Face.rest_prefixes`, `Face.refusal`); when a fault fires and how an answer is sent is the
same for every venue, and is here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from simulator.state import SIM_KEY, Simulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def rest_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    path = request.path
    face = next((f for f in sim.faces.values() if path.startswith(f.rest_prefixes)), None)
    if face is None:
        return await handler(request)
    sim.stats["rest_requests"] += 1
    faults = sim.faults
    if faults.rest_slow_ms:
        sim.injected["rest_slow"] += 1
        await asyncio.sleep(faults.rest_slow_ms / 1000)
    if faults.rest_endless:
        sim.injected["rest_endless"] += 1
        return await endless(sim, request)
    if sim.chance(faults.rest_5xx, "rest_5xx"):
        response: web.StreamResponse = face.refusal(path, 500)
    elif sim.chance(faults.rest_429, "rest_429"):
        response = face.refusal(path, 429)
    else:
        response = await handler(request)
    if faults.rest_trickle_ms and isinstance(response, web.Response) \
            and isinstance(response.body, bytes):
        sim.injected["rest_trickle"] += 1
        return await trickle(sim, request, response, response.body)
    return response


async def trickle(sim: Simulator, request: web.Request, response: web.Response,
                  body: bytes) -> web.StreamResponse:
    """The `rest_trickle_ms` fault: a correct answer with its true Content-Length, one byte
    per N ms, so every single read succeeds and only a deadline on the whole call ends it.
    Switching the fault off sends the rest at once."""
    slow = web.StreamResponse(status=response.status, reason=response.reason,
                              headers=response.headers)
    slow.content_length = len(body)
    await slow.prepare(request)
    try:
        for i in range(len(body)):
            if not sim.faults.rest_trickle_ms:
                await slow.write(body[i:])
                break
            await slow.write(body[i:i + 1])
            await asyncio.sleep(sim.faults.rest_trickle_ms / 1000)
        await slow.write_eof()
    except ConnectionError:  # the client gave up: what a deadline is for
        pass
    return slow


ENDLESS_CHUNK = b"0," * 32768


async def endless(sim: Simulator, request: web.Request) -> web.StreamResponse:
    """The `rest_endless` fault: 200, a chunked body that opens a JSON list and never ends
    while the fault is on, until the client goes away. Each write waits for the socket to
    drain, so the simulator's memory stays flat however long the client keeps reading."""
    answer = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    answer.enable_chunked_encoding()
    await answer.prepare(request)
    try:
        await answer.write(b"[")
        while sim.faults.rest_endless:
            await answer.write(ENDLESS_CHUNK)
            await asyncio.sleep(0)  # writes that never block would starve everything else
        await answer.write_eof()
    except ConnectionError:
        pass
    return answer
