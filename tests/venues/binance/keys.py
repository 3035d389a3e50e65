"""Key pairs for the tests, made once per run (never a real account's)."""

from __future__ import annotations

from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

# [BN] rest-api.md "SIGNED Endpoint Examples": the documented example HMAC secret.
HMAC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@cache
def rsa_pem() -> str:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@cache
def ed25519_pem() -> str:
    return _pem(ed25519.Ed25519PrivateKey.generate())


def secret_of(kind: str) -> str:
    return {"hmac": HMAC_SECRET, "rsa": rsa_pem(), "ed25519": ed25519_pem()}[kind]
