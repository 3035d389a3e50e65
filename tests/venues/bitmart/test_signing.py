"""The published BitMart signing examples (protocol notes §1.2, §1.4, §2.2, §3.2)."""

from tracker.venues.bitmart import signing


def test_v2_client_secret_vector() -> None:
    assert signing.v2_client_secret(
        "6591f7c2491db0a23a1d8ad6911c825e", "8c08d9d5c3d15b105dbddaf96e427ac6", "mymemo"
    ) == "18b9beb027d9ee75202655f37344ea5829c5c0d66a0781bf642bb3e944cf5019"


def test_v2_order_signature_vector_sorts_params() -> None:
    secret = "8c08d9d5c3d15b105dbddaf96e427ac6"
    params = {"symbol": "BMX_ETH", "side": "buy", "price": "1", "amount": "1"}
    assert signing.v2_signature_payload(params) == "amount=1&price=1&side=buy&symbol=BMX_ETH"
    assert signing.v2_signature(secret, params) == (
        "2302088e474141fc7b498d0fa96c9cc2eda39a5a24fd1495d469d0a72e5fd483")


def test_v2_cancel_signature_vector() -> None:
    assert signing.v2_signature("8c08d9d5c3d15b105dbddaf96e427ac6", {"entrust_id": 1223181}) == (
        "de4ed768cea4eb2f0fe081009eab1f41c5fd6ff6ed53768df7fe252472c257b3")


SECRET_V4 = "6c6c98544461bbe71db2bca4c6d7fd0021e0ba9efc215f9c6ad41852df9d9df9"


def test_v4_sign_vector() -> None:
    body = '{"symbol":"BTC_USDT","price":"8600","count":"100"}'
    assert signing.v4_sign(SECRET_V4, "test001", "1589793796145", body) == (
        "c31dc326bf87f38bfb49a3f8494961abfa291bd549d0d98d9578e87516cee46d")


def test_ws_login_vector() -> None:
    assert signing.ws_login_sign(SECRET_V4, "test001", "1589267764859") == (
        "3ceeb7e1b8cb165a975e28a2e2dfaca4d30b358873c0351c1a071d8c83314556")


def test_signatures_depend_on_every_input() -> None:
    base = signing.v4_sign(SECRET_V4, "test001", "1", "{}")
    assert signing.v4_sign(SECRET_V4, "test002", "1", "{}") != base
    assert signing.v4_sign(SECRET_V4, "test001", "2", "{}") != base
    assert signing.v4_sign(SECRET_V4, "test001", "1", "{ }") != base
