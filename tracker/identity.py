"""What a book is a book of: the exchange, the exchange account and the symbols it covers,
recorded in `sync_state` (`venue`, `key_fingerprint`, `symbols`) by the first write and
checked by every later start, and by a standby when it takes over, before it writes.

A tracker run with another account's keys would merge that account's orders into the book
and mark the book's own as vanished; one that covers fewer symbols would leave the others'
orders open for good while the book says it is live. Both are refused (`Mismatch`, exit 78)
unless the operator says, once, that the change is meant (`Consent`). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALL = "*"  # `symbols` of a book that covers every symbol
# The message the fingerprint is the HMAC of, under the account's key. Changing it changes
# every book's fingerprint: a new label needs a migration that forgets the old ones.
LABEL = b"open-order-tracker/account-fingerprint/v1"
FINGERPRINT_HEX = 16  # 64 bits: two keys' fingerprints agree by chance once in 2^64
SHOWN_HEX = 8  # how much of a fingerprint a message shows
SHOWN_SYMBOLS = 5  # a message lists at most this many symbols


def fingerprint(account_key: str) -> str:
    """What the book keeps of the key that names the exchange account: HMAC-SHA256 of a
    fixed label under the key, truncated to 64 bits.

    Why not the key: the book is read by every reader of the database. Why not a slow hash:
    an exchange's API key is a long random string the exchange made, so no hash of it, fast
    or slow, can be inverted or guessed by trying keys; stretching buys nothing and would
    cost every start. Why keyed, with a label of our own, rather than a plain SHA-256 of
    the key: the fingerprint then matches no other program's hash of the same key (a log,
    another tool's table), so the book links to nothing outside itself. Why truncated: 64
    bits tell two keys apart with certainty in practice and confirm nothing further. What
    is hashed is what the venue names (`Venue.account_key`: the API key, which requests
    carry in clear headers); the secret is never an input."""
    digest = hmac.new(account_key.encode(), LABEL, hashlib.sha256).hexdigest()
    return digest[:FINGERPRINT_HEX]


class Mismatch(Exception):
    """The book belongs to another exchange account, or covers symbols this tracker would
    not: one line, the book's name left to the caller."""


@dataclass(frozen=True)
class Consent:
    """What the operator allows this start to change in a book's identity, by naming it:
    a flag left in a unit file allows only what it names, never a later mismatch."""

    # Symbols whose open orders leave the book (`tracker run --drop-symbols`); `*`: any.
    drop_symbols: frozenset[str] = field(default_factory=frozenset)
    # The recorded fingerprint (its first 8 hex digits at least) that the configured keys
    # replace (`tracker run --replace-keys`), after the account's keys were rotated.
    replace_keys: str = ""


@dataclass(frozen=True)
class Identity:
    venue: str
    key_fingerprint: str
    symbols: frozenset[str] | None  # None: every symbol

    @property
    def symbols_text(self) -> str:
        return ALL if self.symbols is None else ",".join(sorted(self.symbols))

    def columns(self) -> dict[str, str]:
        """The `sync_state` columns that record it."""
        return {"venue": self.venue, "key_fingerprint": self.key_fingerprint,
                "symbols": self.symbols_text}


def _listed(symbols: Iterable[str]) -> str:
    names = sorted(symbols)
    more = len(names) - SHOWN_SYMBOLS
    return ", ".join(names[:SHOWN_SYMBOLS]) + (f" and {more} more" if more > 0 else "")


def _short(fp: str) -> str:
    return f"{fp[:SHOWN_HEX]}…"


def _replaces(named: str, fp: str) -> bool:
    """Whether the operator named this recorded fingerprint (at least its shown part)."""
    return len(named) >= SHOWN_HEX and fp.startswith(named.lower())


def judge(state: Mapping[str, Any], mine: Identity, held: Iterable[str],
          consent: Consent) -> frozenset[str]:
    """Whether this tracker may write the book whose `sync_state` row is `state` and whose
    open or unresolved orders have the symbols `held`: the symbols whose orders leave the
    book (those the operator agreed to drop), or `Mismatch`.

    An identity not recorded yet (a book from before schema 7, or never written) is adopted,
    but its open orders' symbols still count: none of them may be left uncovered."""
    venue, fp = state.get("venue") or "", state.get("key_fingerprint") or ""
    if venue and venue != mine.venue:
        raise Mismatch(f"the book is of venue {venue}, this tracker's is {mine.venue}: "
                       "refused; a book holds one exchange account")
    if fp and fp != mine.key_fingerprint and not _replaces(consent.replace_keys, fp):
        raise Mismatch(f"other API keys (fingerprint {_short(fp)} in the book, "
                       f"{_short(mine.key_fingerprint)} configured): refused; a book holds one "
                       f"exchange account (after rotating this account's keys, start once "
                       f"with --replace-keys {fp[:SHOWN_HEX]})")
    if mine.symbols is None:
        return frozenset()
    recorded = state.get("symbols") or ""
    covered = set(held) | (set(recorded.split(",")) - {ALL, ""})
    lacking = frozenset(covered - mine.symbols)
    if ALL in consent.drop_symbols:
        return lacking
    if recorded == ALL:
        raise Mismatch("the book covers every symbol (*), this tracker only "
                       f"{_listed(mine.symbols)}: refused; to narrow it and remove the other "
                       "symbols' open orders from the book, start once with --drop-symbols '*'")
    if lacking - consent.drop_symbols:
        raise Mismatch(f"the book covers symbols this tracker does not: {_listed(lacking)} "
                       f"(their open orders would stay open for good): refused; to stop "
                       f"tracking them and remove their open orders from the book, start "
                       f"once with --drop-symbols {','.join(sorted(lacking))}")
    return lacking
