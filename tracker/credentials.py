"""The account's API key, secret and memo, in a leaf module that config, the REST client and
the stream all take it from without importing each other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str
    memo: str

    def __repr__(self) -> str:  # never print the secret, even by accident
        return "Credentials(api_key=***, secret=***, memo=***)"
