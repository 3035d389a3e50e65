"""The account's credentials by name (API key, secret, memo or passphrase, as its venue
names them), in a leaf module that config, the venues and the daemon all take them from."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

SHORTEST_SCRUBBED = 4  # a secret shorter than this is not searched for in logged text


@dataclass(frozen=True)
class Credentials:
    values: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.values.get(name, "")

    def __iter__(self) -> Iterator[str]:
        return iter(self.values.values())

    def scrubbed(self) -> tuple[str, ...]:
        """What must never reach the journal or a log: each secret, raw and as hex (how a
        binary frame is excerpted)."""
        return tuple(v for s in self if len(s) >= SHORTEST_SCRUBBED
                     for v in (s, s.encode().hex()))

    def __repr__(self) -> str:  # never print a secret, even by accident
        return f"Credentials({', '.join(f'{k}=***' for k in self.values)})"
