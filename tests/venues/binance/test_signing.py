"""Binance's signing recipes against its documented examples, and the key-type checks."""

from __future__ import annotations

import pytest

from tracker.venues.binance.signing import (
    BadKey,
    payload,
    public_pem,
    signer,
    verify,
    ws_payload,
)

from .keys import API_KEY, HMAC_SECRET, ed25519_pem, rsa_pem

ORDER = [("symbol", "LTCBTC"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
         ("quantity", "1"), ("price", "0.1"), ("recvWindow", "5000"),
         ("timestamp", "1499827319559")]
FULLWIDTH = "\uff11\uff12\uff13\uff14\uff15\uff16"  # [BN]'s non-ASCII example symbol


def test_the_documented_rest_hmac_example() -> None:
    """[BN] rest-api.md "SIGNED Endpoint Examples for POST /api/v3/order", HMAC Keys."""
    key = signer(HMAC_SECRET)
    assert key.sign(payload(ORDER)) == (
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    encoded = payload([("symbol", FULLWIDTH), *ORDER[1:]])
    assert encoded.startswith("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&")
    assert key.sign(encoded) == (
        "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3")


def test_the_documented_websocket_hmac_example() -> None:
    """[BN] web-socket-api.md "SIGNED request example (HMAC)": sorted, not encoded."""
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100,
              "timestamp": 1645423376532, "apiKey": API_KEY, "signature": "ignored"}
    assert signer(HMAC_SECRET).sign(ws_payload(params)) == (
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24")
    unicode = params | {"symbol": FULLWIDTH, "side": "BUY", "quantity": "1.00000000",
                        "price": "0.10000000", "recvWindow": 5000}
    assert signer(HMAC_SECRET).sign(ws_payload(unicode)) == (
        "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd")


@pytest.mark.parametrize(("secret", "kind"), [
    (HMAC_SECRET, "hmac"), (rsa_pem(), "rsa"), (ed25519_pem(), "ed25519"),
    (rsa_pem().strip(), "rsa"),  # as a secret file is read: stripped
])
def test_auto_reads_the_key_type(secret: str, kind: str) -> None:
    assert signer(secret).kind == kind == signer(secret, kind).kind


@pytest.mark.parametrize(("secret", "kind", "words"), [
    (HMAC_SECRET, "rsa", "key_type is rsa, but the secret is not a PEM private key"),
    (HMAC_SECRET, "ed25519", "key_type is ed25519, but the secret is not a PEM"),
    (rsa_pem(), "hmac", "key_type is hmac, but the secret is an RSA key"),
    (ed25519_pem(), "rsa", "key_type is rsa, but the secret is an ED25519 key"),
    ("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----", None,
     "cannot be read as one"),
    ("caf\u00e9 secret", None, "printable ASCII"),
])
def test_a_wrong_key_is_one_line_without_the_key(secret: str, kind: str | None,
                                                 words: str) -> None:
    with pytest.raises(BadKey, match=words) as refusal:
        signer(secret, kind)
    assert "\n" not in str(refusal.value) and secret not in str(refusal.value)


def test_signatures_verify_and_fail_on_another_message() -> None:
    for secret in (rsa_pem(), ed25519_pem()):
        sig = signer(secret).sign("a=1")
        assert verify(public_pem(secret), "a=1", sig)
        assert not verify(public_pem(secret), "a=2", sig)
