"""OKX's own SDK (`python-okx`) against the simulator's OKX face: its REST trade client
(`okx.Trade.TradeAPI`) and its private WebSocket client (`okx.websocket.WsPrivateAsync`).

Run by test_conformance.py with the clients' own packages (`make clients`), as
`python -S sdk_driver.py`; speaks driverio's line protocol. The SDK answers REST calls with
OKX's envelope as JSON (`code`, `msg`, `data`), handed on whole; every message of the
WebSocket (acks, pushes, errors, as text) becomes a `stream` event. The SDK's WebSocket
connects over TLS only: the test serves the face over TLS too, and names its certificate
in `SSL_CERT_FILE`, which the SDK's `ssl.create_default_context()` trusts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import okx.Trade as Trade
from driverio import Op, emit, serve
from okx.websocket.WsPrivateAsync import WsPrivateAsync


class Complaints(logging.Handler):
    """The SDK's errors (a connection that failed or was closed), passed on as events."""

    def emit(self, record: logging.LogRecord) -> None:
        emit({"event": "warning", "message": record.getMessage()})


def message(text: str) -> Any:
    """A WebSocket message as the test reads it: JSON, or OKX's bare `pong`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


async def start(config: dict[str, Any]) -> tuple[dict[str, Op], Op]:
    logging.getLogger().addHandler(Complaints(logging.WARNING))
    # flag "1": demo trading, sent as `x-simulated-trading: 1` on every call.
    trade = Trade.TradeAPI(config["api_key"], config["secret"], config["passphrase"],
                           flag=config["flag"], domain=config["rest_url"], debug=False)
    opened: list[WsPrivateAsync] = []
    readers: list[asyncio.Task[None]] = []  # the SDK's receive loops, one a connection

    async def call(fn: Any, **kwargs: Any) -> Any:
        """A REST call (blocking, on httpx's Client) in a thread: the stream keeps flowing."""
        return await asyncio.to_thread(fn, **kwargs)

    async def place(inst_id: str, side: str, px: str, sz: str, cl_ord_id: str = "") -> Any:
        return await call(trade.place_order, instId=inst_id, tdMode="cash", side=side,
                          ordType="limit", px=px, sz=sz, clOrdId=cl_ord_id)

    async def amend(inst_id: str, ord_id: str, new_sz: str = "", new_px: str = "",
                    req_id: str = "") -> Any:
        return await call(trade.amend_order, instId=inst_id, ordId=ord_id, newSz=new_sz,
                          newPx=new_px, reqId=req_id)

    async def cancel(inst_id: str, ord_id: str) -> Any:
        return await call(trade.cancel_order, instId=inst_id, ordId=ord_id)

    async def order(inst_id: str, ord_id: str = "", cl_ord_id: str = "") -> Any:
        return await call(trade.get_order, instId=inst_id, ordId=ord_id, clOrdId=cl_ord_id)

    async def pending(inst_id: str = "", after: str = "", limit: str = "") -> Any:
        return await call(trade.get_order_list, instType="SPOT", instId=inst_id,
                          after=after, limit=limit)

    async def subscribe() -> dict[str, Any]:
        """Connect (TLS), then the SDK's `subscribe`: login, 5 s of sleep, `subscribe` to
        `orders` of SPOT. Every message becomes an event."""
        ws = WsPrivateAsync(apiKey=config["api_key"], passphrase=config["passphrase"],
                            secretKey=config["secret"], url=config["ws_url"])
        reader = await ws.start()
        if ws.websocket is None:  # the SDK logs why and raises nothing
            reader.cancel()
            raise ConnectionError("the SDK's connect() gave no connection")
        opened.append(ws)
        readers.append(reader)
        await ws.subscribe([{"channel": "orders", "instType": "SPOT"}],
                           lambda text: emit({"event": "stream", "data": message(text)}))
        return {"connected": True}

    async def reading() -> list[dict[str, Any]]:
        """Each connection's receive loop (`consume`): still reading, or how it ended. The
        SDK neither reconnects nor resubscribes: when it ends, the stream is over."""
        return [{"done": r.done(), "error": None if not r.done() or r.cancelled()
                 or r.exception() is None else repr(r.exception())} for r in readers]

    async def close() -> None:
        for ws in opened:
            await ws.stop()
        await asyncio.gather(*readers, return_exceptions=True)

    ops: dict[str, Op] = {"place": place, "amend": amend, "cancel": cancel, "order": order,
                          "pending": pending, "subscribe": subscribe, "reading": reading}
    return ops, close


if __name__ == "__main__":
    asyncio.run(serve(start))
