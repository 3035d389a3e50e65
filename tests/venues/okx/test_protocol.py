"""OKX's shared facts: the messages built from them and the order-id and instrument checks
(the simulator's face speaks the same module, so a wrong fact would agree with itself:
these pin the documented shapes, docs/okx.md)."""

from __future__ import annotations

import pytest

from tracker.venues.okx import protocol as p

from .payloads import LOGIN_FAILED, NOT_FOUND_ANSWER, PLEASE_LOG_IN, UPGRADE_NOTICE


def test_login_request_has_the_documented_shape() -> None:
    """[OKX] #overview-websocket-login's request example."""
    assert p.login_request("985d5b66-57ce-40fb-b714-afc0b9787083", "123456", "1538054050",
                           "7L+zFQ+CEgGu5rzCj4+BdV2/uUHGqddA9pI6ztsRRPs=") == {
        "op": "login", "args": [{"apiKey": "985d5b66-57ce-40fb-b714-afc0b9787083",
                                 "passphrase": "123456", "timestamp": "1538054050",
                                 "sign": "7L+zFQ+CEgGu5rzCj4+BdV2/uUHGqddA9pI6ztsRRPs="}]}


def test_subscribe_request_covers_every_spot_instrument() -> None:
    """[OKX] #order-book-trading-trade-ws-order-channel's request example."""
    assert p.subscribe_request("1512") == {
        "id": "1512", "op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]}
    assert p.subscribe_request(op=p.UNSUBSCRIBE) == {
        "op": "unsubscribe", "args": [{"channel": "orders", "instType": "SPOT"}]}


def test_the_book_id_is_the_ord_id_as_is() -> None:
    assert p.book_order_id("1752588852617379840") == "1752588852617379840"


@pytest.mark.parametrize(("inst_id", "parts"), [
    ("BTC-USDT", ("BTC", "USDT")), ("1INCH-USDC", ("1INCH", "USDC")),
    ("BTC-USDT-SWAP", None), ("BTC-USD-200927", None), ("btc-usdt", None),
    ("BTCUSDT", None), ("BTC_USDT", None), ("-USDT", None), ("", None),
])
def test_instrument_parts(inst_id: str, parts: tuple[str, str] | None) -> None:
    assert p.instrument_parts(inst_id) == parts


def test_codes_by_meaning() -> None:
    """Each code where the error-code pages put it; the sets are disjoint, as a refusal can
    mean one thing only."""
    assert {"50101", "50103", "50105", "50111", "50113"} <= p.CREDENTIAL_CODES
    assert p.TIMESTAMP_EXPIRED not in p.CREDENTIAL_CODES
    assert not p.CREDENTIAL_CODES & p.CLOCK_CODES
    assert not p.CREDENTIAL_CODES & p.LIMIT_CODES
    assert not p.WS_CREDENTIAL_CODES & p.WS_CLOCK_CODES
    assert set(p.STATES) == {"live", "partially_filled", "filled", "canceled", "mmp_canceled"}


def test_the_messages_a_face_writes_are_the_documented_ones() -> None:
    assert p.MESSAGES[p.ORDER_NOT_FOUND] == NOT_FOUND_ANSWER["msg"]
    assert p.WS_MESSAGES[p.WS_LOGIN_FAILED] == LOGIN_FAILED["msg"]
    assert p.WS_MESSAGES[p.WS_PLEASE_LOG_IN] == PLEASE_LOG_IN["msg"]
    assert p.WS_MESSAGES[p.WS_UPGRADE_NOTICE] == UPGRADE_NOTICE["msg"]
