"""Amounts: a spelling checked and its Decimal shared, and the one text written for it."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tracker.codec import DECIMAL, amount_text, plain_decimal

SPELLINGS = st.from_regex(DECIMAL, fullmatch=True)


@given(SPELLINGS)
def test_a_plain_spelling_is_its_decimal_and_keeps_its_text(spelled: str) -> None:
    value = plain_decimal(spelled)
    assert value == Decimal(spelled) and str(value) == str(Decimal(spelled))
    assert amount_text(value) == format(Decimal(spelled), "f")  # trailing zeros kept


@given(st.text(max_size=40))
def test_anything_else_is_no_amount(text: str) -> None:
    if not DECIMAL.fullmatch(text):
        assert plain_decimal(text) is None
        assert plain_decimal(text) is None  # not remembered as good on a second look


def test_equal_amounts_spelled_otherwise_keep_their_own_text() -> None:
    shared = plain_decimal("1.00")
    assert shared is not None and amount_text(shared) == "1.00"
    assert amount_text(Decimal("1.0")) == "1.0"  # equal, not the shared object
    assert amount_text(Decimal("1.00") + 0) == "1.00"
    assert amount_text(Decimal("0E-8")) == "0.00000000"  # never an exponent
