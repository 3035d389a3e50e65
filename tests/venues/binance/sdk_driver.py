"""Binance's own SDK (`binance-sdk-spot`) against the simulator's Binance face: its REST
client and its WebSocket API client's user data stream.

Run by test_conformance.py with the clients' own packages (`make clients`), as
`python -S sdk_driver.py`; speaks driverio's line protocol. The configuration carries an
HMAC `secret` or a PEM `private_key` (RSA or Ed25519: the SDK tells them apart itself).
Answers are the SDK's parsed models as dicts by their wire names; a model the SDK could not
fill from an answer (it then logs a warning and hands on the raw JSON) is reported too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from binance_sdk_spot.rest_api.models import (
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
    OrderCancelReplaceCancelReplaceModeEnum,
    OrderCancelReplaceSideEnum,
    OrderCancelReplaceTimeInForceEnum,
    OrderCancelReplaceTypeEnum,
)
from binance_sdk_spot.spot import ConfigurationRestAPI, ConfigurationWebSocketAPI, Spot
from driverio import Op, emit, serve


class Complaints(logging.Handler):
    """The SDK's warnings (a model that did not fit an answer, an event it could not parse),
    passed on as events: the test fails on any."""

    def emit(self, record: logging.LogRecord) -> None:
        emit({"event": "warning", "message": record.getMessage()})


def plain(value: Any) -> Any:
    """A parsed model (or list of them, or a oneOf wrapper) as JSON-able wire-named data."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "actual_instance"):
        return plain(value.actual_instance)
    if hasattr(value, "to_dict"):
        return {"model": type(value).__name__, **value.to_dict()}
    return value


async def start(config: dict[str, Any]) -> tuple[dict[str, Op], Op]:
    logging.getLogger().addHandler(Complaints(logging.WARNING))
    keys = {"api_key": config["api_key"], "api_secret": config.get("secret"),
            "private_key": config.get("private_key")}
    client = Spot(
        config_rest_api=ConfigurationRestAPI(base_path=config["rest_url"], timeout=5000,
                                             retries=0, **keys),
        # One reconnect attempt, 0.3 s after the SDK decides to (its default: 5 s).
        config_ws_api=ConfigurationWebSocketAPI(stream_url=config["ws_url"], timeout=5000,
                                                reconnect_attempts=1, reconnect_delay=300,
                                                **keys))
    rest = client.rest_api
    opened: list[Any] = []  # the WebSocket API client, once `subscribe` used it

    async def call(fn: Any, **kwargs: Any) -> Any:
        """A REST call (blocking, on `requests`) in a thread, so the stream keeps flowing."""
        response = await asyncio.to_thread(fn, **kwargs)
        return plain(response.data())

    async def place(symbol: str, side: str, quantity: str, price: str,
                    client_id: str | None = None) -> Any:
        return await call(rest.new_order, symbol=symbol, side=NewOrderSideEnum(side),
                          type=NewOrderTypeEnum.LIMIT,
                          time_in_force=NewOrderTimeInForceEnum.GTC,
                          quantity=float(quantity), price=float(price),
                          new_client_order_id=client_id)

    async def amend(symbol: str, order_id: int, new_qty: str,
                    client_id: str | None = None) -> Any:
        return await call(rest.order_amend_keep_priority, symbol=symbol, order_id=order_id,
                          new_qty=float(new_qty), new_client_order_id=client_id)

    async def cancel(symbol: str, order_id: int) -> Any:
        return await call(rest.delete_order, symbol=symbol, order_id=order_id)

    async def cancel_replace(symbol: str, order_id: int, side: str, quantity: str,
                             price: str) -> Any:
        return await call(rest.order_cancel_replace, symbol=symbol,
                          side=OrderCancelReplaceSideEnum(side),
                          type=OrderCancelReplaceTypeEnum.LIMIT,
                          cancel_replace_mode=(
                              OrderCancelReplaceCancelReplaceModeEnum.STOP_ON_FAILURE),
                          time_in_force=OrderCancelReplaceTimeInForceEnum.GTC,
                          quantity=float(quantity), price=float(price),
                          cancel_order_id=order_id)

    async def order(symbol: str, order_id: int) -> Any:
        return await call(rest.get_order, symbol=symbol, order_id=order_id)

    async def open_orders(symbol: str | None = None) -> Any:
        return await call(rest.get_open_orders, symbol=symbol)

    async def subscribe(logon: bool = False) -> Any:
        """A WebSocket API connection and a user data stream on it: with
        userDataStream.subscribe.signature, or (`logon`, Ed25519 keys) session.logon then
        userDataStream.subscribe. Every message of the subscription becomes an event."""
        ws = client.websocket_api
        opened.append(ws)
        # On failure the SDK logs the reason and returns None (no exception).
        connection = await ws.create_connection()
        if connection is None:
            raise ConnectionError("the SDK's create_connection() gave no connection")
        if logon:
            await connection.session_logon()
            answer = await connection.user_data_stream_subscribe()
        else:
            answer = await connection.user_data_stream_subscribe_signature()
        answer.stream.on("message", lambda data: emit({"event": "stream",
                                                       "data": plain(data)}))
        return plain(answer.response.data())

    async def close() -> None:
        for ws in opened:
            await ws.close_connection(close_session=True)

    ops: dict[str, Op] = {"place": place, "amend": amend, "cancel": cancel,
                          "cancel_replace": cancel_replace, "order": order,
                          "open_orders": open_orders, "subscribe": subscribe}
    return ops, close


if __name__ == "__main__":
    asyncio.run(serve(start))
