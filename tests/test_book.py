"""The merge rule, proven over generated order histories (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.book import Book, Outcome, merge, progress
from tracker.codec import OPEN_STATES, OrderUpdate

T0 = 1_700_000_000_000


@st.composite
def histories(draw: st.DrawFn) -> list[OrderUpdate]:
    """Every update one order could produce, from every source, in true order."""
    size = Decimal(draw(st.integers(1, 1000)))
    fills = draw(st.lists(st.integers(1, 50), max_size=5))
    end = draw(st.sampled_from(["open", "filled", "canceled", "failed"]))
    client = draw(st.sampled_from([None, "bot42"]))
    steps: list[tuple[str, Decimal]] = [("new", Decimal(0))]
    filled = Decimal(0)
    for part in fills:
        filled = min(size, filled + part)
        if filled == size:
            break
        steps.append(("partially_filled", filled))
    if end == "filled":
        steps.append(("filled", size))
    elif end == "canceled":
        steps.append(("partially_canceled" if filled else "canceled", filled))
    elif end == "failed" and filled == 0:
        steps.append(("failed", Decimal(0)))
    updates = []
    for i, (state, done) in enumerate(steps):
        base = OrderUpdate(order_id="1001", symbol="BTC_USDT", side="buy", state=state,
                           price=Decimal("10.5"), size=size, filled_size=done, source="push",
                           type="limit", client_order_id=client, create_time=T0,
                           update_time=T0 + i, filled_notional=done * Decimal("10.5"))
        sources = draw(st.sets(st.sampled_from(["push", "seed_v4", "seed_v2", "detail_v4"]),
                               min_size=1))
        for source in sorted(sources):
            if source == "seed_v2":  # v2 rows carry no update time, client id or notional
                updates.append(msgspec.structs.replace(base, source=source, update_time=None,
                                                   client_order_id=None, filled_notional=None))
            else:
                updates.append(msgspec.structs.replace(base, source=source))
    return updates


def replay(updates: list[OrderUpdate]) -> OrderUpdate:
    book = Book()
    for u in updates:
        book.apply(u)
    return book.rows["1001"]


@settings(max_examples=300)
@given(history=histories(), data=st.data())
def test_any_permutation_with_duplicates_gives_the_same_row(history: list[OrderUpdate],
                                                            data: st.DataObject) -> None:
    expected = replay(history)
    shuffled = data.draw(st.permutations(history + data.draw(
        st.lists(st.sampled_from(history), max_size=len(history)))))
    assert replay(shuffled) == expected
    # The final row is the order's true last state, whatever the order of arrival.
    last = history[-1]
    assert (expected.state, expected.filled_size) == (last.state, last.filled_size)
    # Facts a v2 row lacks are kept from the sources that had them.
    assert expected.client_order_id == next(
        (u.client_order_id for u in history if u.client_order_id), None)


@settings(max_examples=300)
@given(history=histories(), data=st.data())
def test_no_regression_and_terminal_absorbs(history: list[OrderUpdate],
                                            data: st.DataObject) -> None:
    book = Book()
    seen_terminal = False
    best = (-1, Decimal(-1))
    for u in data.draw(st.permutations(history)):
        outcome, row = book.apply(u)
        assert book.open_count() == (row.state in OPEN_STATES)
        rank_fill = progress(row)[:2]
        assert rank_fill >= best, "the book moved an order backwards"
        best = rank_fill
        if seen_terminal:
            assert (row.state not in OPEN_STATES and outcome is not Outcome.APPLIED) or (
                row.state not in OPEN_STATES)
        seen_terminal |= row.state not in OPEN_STATES


@given(history=histories())
def test_a_duplicate_changes_nothing(history: list[OrderUpdate]) -> None:
    book = Book()
    for u in history:
        book.apply(u)
        before = dict(book.rows)
        outcome, _ = book.apply(u)
        assert outcome is Outcome.DUPLICATE
        assert book.rows == before


def _u(state: str, filled: str, t: int | None, source: str = "push") -> OrderUpdate:
    return OrderUpdate(order_id="7", symbol="BTC_USDT", side="sell", state=state,
                       price=Decimal(1), size=Decimal(2), filled_size=Decimal(filled),
                       source=source, update_time=t)


def test_outcomes() -> None:
    new, part, done = _u("new", "0", 1), _u("partially_filled", "1", 2), _u("filled", "2", 3)
    assert merge(None, new)[0] is Outcome.APPLIED
    assert merge(new, part)[0] is Outcome.APPLIED
    assert merge(part, new) == (Outcome.STALE, part)
    assert merge(done, part) == (Outcome.STALE, done)
    assert merge(done, done)[0] is Outcome.DUPLICATE
    # The same progress from a source without times is a duplicate, not news.
    seed = _u("partially_filled", "1", None, source="seed_v2")
    assert merge(part, seed) == (Outcome.DUPLICATE, part)
    assert merge(seed, part)[0] is Outcome.DUPLICATE and merge(seed, part)[1] == part
    # More fills win over a later time; a terminal state wins over more time.
    assert merge(_u("partially_filled", "1", 9), _u("partially_filled", "1.5", 5))[0] is (
        Outcome.APPLIED)
    assert merge(_u("partially_filled", "1", 9), _u("canceled", "1", None, "seed_v2"))[
        0] is Outcome.APPLIED


def test_open_ids_by_symbol() -> None:
    book = Book([_u("new", "0", 1), msgspec.structs.replace(_u("filled", "2", 2), order_id="8"),
                 msgspec.structs.replace(_u("new", "0", 1), order_id="9", symbol="ETH_USDT")])
    assert book.open_ids() == {"7", "9"}
    assert book.open_ids(["BTC_USDT"]) == {"7"}
    assert book.open_count() == 2
    book.apply(_u("canceled", "0", 5))
    book.apply(msgspec.structs.replace(_u("new", "0", 1), order_id="10"))
    assert book.open_count() == 2 == len(book.open_ids())
