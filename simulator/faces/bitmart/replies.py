"""The exchange's REST answer envelopes: v2's bare message, v4's code, message, trace and
data, shared by the REST faces and the REST fault middleware."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.state import Simulator
from tracker.venues.bitmart import protocol


def v2_error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def v4_response(sim: Simulator, data: Any, *, code: int = protocol.V4_SUCCESS,
                message: str = "success",
                status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = {"code": code, "message": message, "trace": sim.trace(), "data": data}
    return web.json_response(body, status=status, headers=headers)


def v4_error(sim: Simulator, status: int, code: int, message: str,
             headers: dict[str, str] | None = None) -> web.Response:
    return v4_response(sim, {}, code=code, message=message, status=status, headers=headers)
