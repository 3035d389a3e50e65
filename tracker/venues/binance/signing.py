"""Binance's signing recipes, shared by the tracker's clients and the simulator: HMAC,
RSA and Ed25519 keys, the REST payload percent-encoded before signing (required since
2026-01-15), and the WebSocket API's sorted parameters.

Both sides must compute byte-identical payloads, so each recipe lives here once. The
asymmetric keys use `cryptography` (the one well-kept implementation of PKCS#1 v1.5 and
Ed25519 in Python); a private key is given as PEM text (PKCS#8), an HMAC secret as its text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

KEY_TYPES = ("hmac", "rsa", "ed25519")


class BadKey(ValueError):
    """A secret that is not a usable key; the message names the problem, never the key."""


def payload(params: Iterable[tuple[str, object]]) -> str:
    """The REST payload in the order given, every value percent-encoded as UTF-8 (so a
    non-ASCII symbol signs as it is sent)."""
    return urlencode([(k, str(v)) for k, v in params], quote_via=quote)


def ws_payload(params: Mapping[str, object]) -> str:
    """The WebSocket API payload: every parameter but `signature`, sorted by name, joined
    as `k=v&...` without encoding ([BN] web-socket-api.md, SIGNED request example)."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature")


@dataclass(frozen=True)
class Signer:
    """A key that signs payloads: `kind` is one of KEY_TYPES."""

    kind: str
    _secret: bytes = b""
    _private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | None = None

    def sign(self, message: str) -> str:
        """HMAC: lowercase hex; RSA (PKCS#1 v1.5, SHA-256) and Ed25519: base64."""
        data = message.encode()
        if self.kind == "hmac":
            return hmac.new(self._secret, data, hashlib.sha256).hexdigest()
        if isinstance(self._private, rsa.RSAPrivateKey):
            raw = self._private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            assert self._private is not None
            raw = self._private.sign(data)
        return base64.b64encode(raw).decode()

    def __repr__(self) -> str:  # never print the secret, even by accident
        return f"Signer({self.kind}, ***)"


def signer(secret: str, kind: str | None = None) -> Signer:
    """The signer of a secret: a PEM private key (RSA or Ed25519) or an HMAC secret. `kind`,
    when given, must be what the secret is (a key of the wrong type is refused, not used
    for something else)."""
    if secret.lstrip().startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(secret.encode(), password=None)
        except TypeError:
            raise BadKey("the private key is encrypted; give it unencrypted (PKCS#8 "
                            "PEM), kept readable by the tracker only") from None
        except ValueError:
            raise BadKey("the secret looks like a PEM key but cannot be read as one "
                            "(PKCS#8 PEM expected)") from None
        if isinstance(key, rsa.RSAPrivateKey):
            found = Signer("rsa", _private=key)
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            found = Signer("ed25519", _private=key)
        else:
            raise BadKey(f"a {type(key).__name__.removeprefix('_')} key is not one "
                            "Binance takes (HMAC, RSA or Ed25519)")
    else:
        if not secret.isascii() or not secret.isprintable():
            raise BadKey("an HMAC secret is printable ASCII text")
        found = Signer("hmac", _secret=secret.encode())
    if kind is not None and kind != found.kind:
        raise BadKey(f"key_type is {kind}, but the secret is an {found.kind.upper()} "
                        "key" if found.kind != "hmac" else
                        f"key_type is {kind}, but the secret is not a PEM private key "
                        "(an HMAC secret)")
    return found


# -- the verifying side (the simulator) -----------------------------------------------------


def verify(key: str, message: str, signature: str) -> bool:
    """Whether `signature` is valid for `message` under `key`: an HMAC secret, or the
    public key (PEM) of an RSA or Ed25519 pair."""
    if not key.lstrip().startswith("-----BEGIN"):
        expected = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature.lower())
    public = serialization.load_pem_public_key(key.encode())
    try:
        raw = base64.b64decode(signature, validate=True)
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(raw, message.encode(), padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(raw, message.encode())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def public_pem(private_pem: str) -> str:
    """The public key (PEM) of a private key (PEM): what a venue holds of an RSA or
    Ed25519 key pair."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
