"""BitMart's REST answer envelopes: v2's bare message, v4's code, message, trace and data,
shared by the REST endpoints and the answers to the REST faults."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from tracker.venues.bitmart import protocol


class Traces(Protocol):
    """Where a v4 envelope's `trace` comes from: the face's venue state, which numbers them."""

    def trace(self) -> str: ...


def v2_error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def v4_response(venue: Traces, data: Any, *, code: int = protocol.V4_SUCCESS,
                message: str = "success",
                status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = {"code": code, "message": message, "trace": venue.trace(), "data": data}
    return web.json_response(body, status=status, headers=headers)


def v4_error(venue: Traces, status: int, code: int, message: str,
             headers: dict[str, str] | None = None) -> web.Response:
    return v4_response(venue, {}, code=code, message=message, status=status, headers=headers)
