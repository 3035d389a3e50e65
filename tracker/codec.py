"""The order as the book holds it, `OrderUpdate`, and the checks every venue's decoder
makes of a payload's fields: pure, no I/O.

Each venue turns its own payloads into `OrderUpdate`s with exact `Decimal` amounts and the
book's one state vocabulary (`tracker.venues.<name>.codec`); what does not fit raises
`Invalid` with a reason a person can act on, and the caller journals it. The checks that do
not depend on a venue live here once, so a payload refused on one venue for a float amount
is refused on every venue for it, in the same words.
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

# The book's state vocabulary, whatever a venue calls them: BitMart's current words, the
# venue it was specified for. Readers rely on these (the SQLite contract).
STATES = ("new", "partially_filled", "filled", "canceled", "partially_canceled", "failed")
OPEN_STATES = frozenset({"new", "partially_filled"})
TERMINAL_STATES = frozenset(STATES) - OPEN_STATES

# Known words map to one shared string each: a book of 100,000 orders then holds one "buy",
# not 100,000 copies decoded from 100,000 rows.
KNOWN_STATE = {s: s for s in STATES}
KNOWN_SIDE = {"buy": "buy", "sell": "sell"}

DECIMAL = re.compile(r"[0-9]{1,30}(\.[0-9]{1,30})?")
MILLIS = re.compile(r"[0-9]{1,16}")
MIN_TIME_MS = 1_262_304_000_000  # 2010-01-01
MAX_TIME_MS = 4_102_444_800_000  # 2100-01-01


class Invalid(ValueError):
    """A payload the tracker refuses; the message says which field and why."""


class OrderUpdate(msgspec.Struct, frozen=True, gc=False):
    """One order as one source saw it. A msgspec Struct: built ten times faster than a frozen
    dataclass (one per push, per merge and per seeded row), and, holding no containers,
    left out of the cycle collector's scans of a book of 100,000 of them.

    `source` names where it came from as `<kind>` or `<kind>_<detail>`, the kind one of
    `tracker.book.SOURCE_KINDS`: the merge rule ranks sources by it."""

    order_id: str
    symbol: str
    side: str
    state: str
    price: Decimal
    size: Decimal
    filled_size: Decimal
    source: str
    type: str | None = None
    filled_notional: Decimal | None = None
    client_order_id: str | None = None
    create_time: int | None = None
    update_time: int | None = None
    fill_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


def field_of(row: dict[str, Any], name: str) -> Any:
    if name not in row:
        raise Invalid(f"missing field {name!r}")
    return row[name]


def text(row: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = field_of(row, name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f"{name} must be a string, not {type(value).__name__}")
    spelled = str(value)
    if not pattern.fullmatch(spelled):
        raise Invalid(f"{name} is malformed: {spelled[:40]!r}")
    return spelled


def decimal(row: dict[str, Any], name: str, *, allow_empty: bool = False) -> Decimal | None:
    """Amounts arrive as decimal strings; anything else (floats, exponents, NaN, negative,
    absurdly long) is refused rather than guessed at."""
    value = field_of(row, name)
    if allow_empty and value == "":
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a decimal string, not {type(value).__name__}")
    try:
        amount = plain_decimal(value)
    except InvalidOperation:  # unreachable after the pattern, kept for safety of Decimal()
        raise Invalid(f"{name} is not a decimal: {value[:40]!r}") from None
    if amount is None:
        raise Invalid(f"{name} is not a plain non-negative decimal: {value[:40]!r}")
    return amount


# The spellings whose Decimal is made once and shared (the first ones seen).
SHARED_AMOUNTS = 4096
_AMOUNTS: dict[str, Decimal] = {}
# A shared Decimal's text, by the object's id: a shared one lives as long as the process
# (held above), so no other object can have its id, and each push writes five amounts.
_TEXTS: dict[int, str] = {}


def plain_decimal(spelled: str) -> Decimal | None:
    """The Decimal of a plain non-negative decimal spelling (DECIMAL), None for any other
    text; one object for each of the first SHARED_AMOUNTS spellings. A book's orders are
    mostly unfilled (a zero filled size and quote amount, written alike) and sit at a few
    prices and sizes: 100,000 seeded orders held some 200,000 copies of "0.00000000" (104
    bytes each) before, and a spelling met before needs no pattern (a third of a fast
    path's checks). A Decimal is immutable, and the key is the spelling, so
    `Decimal("1.0")` and `Decimal("1.00")` stay apart as the journal needs."""
    value = _AMOUNTS.get(spelled)
    if value is None:
        if not DECIMAL.fullmatch(spelled):
            return None
        value = Decimal(spelled)
        if len(_AMOUNTS) < SHARED_AMOUNTS:
            _AMOUNTS[spelled] = value
            _TEXTS[id(value)] = format(value, "f")
    return value


def amount(row: dict[str, Any], name: str) -> Decimal:
    value = decimal(row, name)
    assert value is not None
    return value


def amount_text(value: Decimal) -> str:
    """The one spelling of an amount in everything the tracker writes (book, journal,
    outputs): positional, never an exponent, so that readers in any language parse it.
    `str(Decimal("0.00000000"))` is "0E-8"; this keeps it as the exchange wrote it, trailing
    zeros and all (`Decimal` remembers them). A shared amount's text is made once."""
    text = _TEXTS.get(id(value))
    return format(value, "f") if text is None else text


def time_ms(value: Any) -> int | None:
    """Milliseconds as an exchange writes them, a JSON number or a digit string; None for
    anything else. REST paging reads creation times with this too: it must page on every
    time the codec accepts, or a page of string times would end the seed early."""
    if isinstance(value, str) and MILLIS.fullmatch(value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def time_field(row: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    if name not in row and not required:
        return None
    raw = field_of(row, name)
    if (value := time_ms(raw)) is None:
        raise Invalid(f"{name} must be integer milliseconds, not {raw!r:.40}")
    if not MIN_TIME_MS <= value <= MAX_TIME_MS:
        raise Invalid(f"{name} is out of range: {value}")
    return value


def known(value: Any, words: dict[str, str]) -> str | None:
    return words.get(value) if isinstance(value, str) else None


def side(row: dict[str, Any], name: str = "side") -> str:
    raw = field_of(row, name)
    if (word := known(raw, KNOWN_SIDE)) is None:
        raise Invalid(f"side must be buy or sell, not {raw!r:.40}")
    return word


def check_fill(size: Decimal, filled: Decimal, state: str) -> None:
    # A market buy is sized by notional: its size is 0 while it fills.
    if size > 0 and filled > size:
        raise Invalid(f"filled size {filled} exceeds order size {size}")
    if state == "new" and filled > 0:
        raise Invalid("state new with a non-zero filled size")
    if state == "filled" and size > 0 and filled != size:
        raise Invalid(f"state filled but filled size {filled} is not the size {size}")


def require_object(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise Invalid(f"an order must be a JSON object, not {type(row).__name__}")
    return row


# -- what the venues' fast paths share -------------------------------------------------------
#
# A venue whose frames come thousands a second reads a whole frame with msgspec, typed in C,
# into the fields its codec reads, and makes the update with the checks its codec makes. The
# authority stays `json.loads` and the codec: a fast path takes a subset of what they take
# and yields exactly what they yield (each venue's property tests hold the two equal).


class NotFast(Exception):
    """A value a fast path doubts: the frame is left to the authoritative path, which says
    what is wrong, if anything is."""


# `json.loads` refuses an integer of more digits than Python allows (4300 by default) even
# in a field nobody reads, and msgspec does not: a frame that long is left to `json.loads`,
# so that a fast path never takes a frame the authoritative path cannot read.
FAST_MAX_CHARS = sys.get_int_max_str_digits() or sys.maxsize


def fast_time(value: int | str) -> int:
    """`time_field` of a value msgspec has typed as an integer or a string."""
    if isinstance(value, str):
        if not MILLIS.fullmatch(value):
            raise NotFast
        value = int(value)
    if not MIN_TIME_MS <= value <= MAX_TIME_MS:
        raise NotFast
    return value


class Interned:
    """Names (symbols) that passed `pattern`, interned and remembered: the pattern costs more
    than the rest of a name's way, and an account trades a few. Past `held` names the rest
    are checked each time."""

    def __init__(self, pattern: re.Pattern[str], held: int = 4096) -> None:
        self.pattern = pattern
        self.held = held
        self.names: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        if (name := self.names.get(value)) is not None:
            return name
        if not self.pattern.fullmatch(value):
            raise NotFast
        name = sys.intern(value)
        if len(self.names) < self.held:
            self.names[name] = name
        return name
