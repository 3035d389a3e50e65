"""OKX's signing recipes. The docs give the recipe and a sample secret but no signature
computed from them, and the login example's `sign` belongs to a secret they do not give:
so each expected value here is computed independently, in the test, with hmac and base64
from the recipe as [OKX] #overview-rest-authentication and #overview-websocket-login
state it (docs/okx.md), and pinned as a literal computed apart with `openssl dgst -sha256
-hmac <secret> -binary | base64`, so a change to the recipe shows."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from tracker.venues.okx import signing

# [OKX] #overview-rest-authentication's example SecretKey and timestamp.
SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
TIMESTAMP = "2020-12-08T09:08:57.715Z"


def independent(secret: str, message: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message.encode(),
                                     hashlib.sha256).digest()).decode()


def test_the_documented_get_example() -> None:
    """The docs' example: `timestamp + 'GET' + '/api/v5/account/balance?ccy=BTC'`."""
    expected = independent(SECRET, TIMESTAMP + "GET/api/v5/account/balance?ccy=BTC")
    assert signing.rest_sign(SECRET, TIMESTAMP, "GET", "/api/v5/account/balance?ccy=BTC") \
        == expected == "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="


def test_a_post_signs_its_body_and_the_method_in_capitals() -> None:
    body = '{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}'  # the docs' body example
    expected = independent(SECRET, f"{TIMESTAMP}POST/api/v5/account/set-leverage{body}")
    assert signing.rest_sign(SECRET, TIMESTAMP, "post", "/api/v5/account/set-leverage",
                             body) == expected
    assert signing.rest_prehash(TIMESTAMP, "get", "/api/v5/trade/orders-pending?"
                                "instType=SPOT&limit=100") == (
        "2020-12-08T09:08:57.715ZGET/api/v5/trade/orders-pending?instType=SPOT&limit=100")


def test_the_login_signs_seconds_and_the_verify_path() -> None:
    """[OKX] #overview-websocket-login: timestamp (seconds) + GET + /users/self/verify."""
    expected = independent(SECRET, "1538054050GET/users/self/verify")
    assert signing.ws_login_sign(SECRET, "1538054050") == expected == (
        "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M=")


@pytest.mark.parametrize(("epoch_ms", "text"), [
    (1607418537715, "2020-12-08T09:08:57.715Z"),  # the docs' example timestamp
    (1607418537005, "2020-12-08T09:08:57.005Z"),  # milliseconds keep their zeros
    (1607418537000, "2020-12-08T09:08:57.000Z"),
])
def test_iso_timestamp(epoch_ms: int, text: str) -> None:
    assert signing.iso_timestamp(epoch_ms) == text


def test_verify_is_the_simulators_check() -> None:
    prehash = signing.rest_prehash(TIMESTAMP, "GET", "/api/v5/public/time")
    good = signing.sign(SECRET, prehash)
    assert signing.verify(SECRET, prehash, good)
    assert not signing.verify(SECRET, prehash + "x", good)
    assert not signing.verify("other", prehash, good)
