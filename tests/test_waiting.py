"""The harness's `eventually`, which every end-to-end test waits with: a condition written
as a bool is waited for, not taken as done at its first False."""

from __future__ import annotations

import pytest

from harness.waiting import eventually


def test_a_condition_is_waited_for_until_it_holds() -> None:
    polls: list[int] = []

    def later() -> bool:
        polls.append(1)
        return len(polls) >= 3

    assert eventually(later, 5, "the third poll", interval=0.01) is True
    assert len(polls) == 3


def test_a_condition_that_never_holds_fails_at_the_deadline() -> None:
    with pytest.raises(AssertionError, match=r"not within 0\.05 s: never: the condition does not"):
        eventually(lambda: False, 0.05, "never", interval=0.01)


def test_a_value_or_none_is_returned_at_once() -> None:
    assert eventually(lambda: None, 5, "a check that asserts") is None
    assert eventually(lambda: 0, 5, "a count") == 0
