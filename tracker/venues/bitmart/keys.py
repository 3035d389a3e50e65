"""BitMart's three credentials, as its signing recipes take them."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.credentials import Credentials

NAMES = ("api_key", "api_secret", "api_memo")  # the settings' names, in this order


@dataclass(frozen=True)
class Keys:
    api_key: str
    secret: str
    memo: str

    @classmethod
    def of(cls, credentials: Credentials) -> Keys:
        return cls(*(credentials[name] for name in NAMES))

    def __repr__(self) -> str:  # never print the secret, even by accident
        return "Keys(api_key=***, secret=***, memo=***)"
