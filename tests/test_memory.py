"""What the daemon holds in memory: the open orders and the recently closed ones, never every
order it has seen, and never at the cost of a closed order coming back.

The session lets a closed order go once its last write is committed and `closed_in_memory`
old; the store keeps it. A late word from the exchange about it (a repeated push, a seed
that lags the cancel, a detail answer) is read back before it is merged, so it stays closed.
These run the pure session with a store the test plays: the rows of every batch it
"committed", read back as `recall` would.
"""

from __future__ import annotations

import random

import pytest

from tests.test_session import Driver, live, order, push, session
from tracker.book import Book, Gone, Outcome
from tracker.events import Decoded, Detail, Down, Event, SeedBegin, Seeded, Tick, Up
from tracker.session import Phase

HOLD = 60.0


class Committed:
    """The store as far as the session can tell: what each committed batch wrote."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.rows: dict[str, tuple] = {}
        self.seen = 0

    def commit(self) -> None:
        for batch in self.driver.batches[self.seen:]:
            for oid, (row, seq, _unresolved, _at) in batch.orders.items():
                self.rows[oid] = (row, seq)
            if batch.events:
                self.driver.session.durable_seq = batch.events[-1][0]
        self.seen = len(self.driver.batches)

    def feed(self, *events: Event):  # type: ignore[no-untyped-def]
        """As the driver does: read back what the events need, then hand them in."""
        wanted = self.driver.session.wanted(events)
        self.driver.session.recall([self.rows[oid] for oid in sorted(wanted)
                                    if oid in self.rows], self.driver.now)
        return self.driver.feed(*events)


def closed_and_gone(oid: str = "1") -> tuple[Driver, Committed]:
    """Order `oid` opened, filled, committed, and let go `HOLD` later."""
    driver = live(session(closed_in_memory=HOLD), order(oid))
    store = Committed(driver)
    store.feed(push(oid, "filled", "2", update_time=5))
    store.commit()
    driver.later(HOLD + 1)
    store.feed(Tick())
    assert oid not in driver.session.book.rows, "a closed, committed, old order stays held"
    return driver, store


def outcomes(batch) -> list[str]:  # type: ignore[no-untyped-def]
    return [e[8] for e in batch.events]


def test_a_closed_order_is_let_go_once_committed_and_old_and_only_then() -> None:
    driver = live(session(closed_in_memory=HOLD), order("1"), order("2"))
    store = Committed(driver)
    store.feed(push("1", "canceled", update_time=5))
    driver.later(HOLD + 1).feed(Tick())
    assert "1" in driver.session.book.rows, "let go before its close was committed"
    store.commit()
    driver.later(HOLD / 2).feed(Tick())
    assert "1" not in driver.session.book.rows
    assert "1" not in driver.session.last_seq
    assert "2" in driver.session.book.rows, "an open order is never let go"
    assert driver.session.book.open_count() == 1
    fresh = live(session(closed_in_memory=HOLD), order("1"))
    Committed(fresh).feed(push("1", "canceled", update_time=5))
    fresh.session.durable_seq = 10**9
    fresh.later(HOLD - 1).feed(Tick())
    assert "1" in fresh.session.book.rows, "let go before closed_in_memory"


def test_a_late_push_for_an_order_let_go_is_read_back_and_stale() -> None:
    driver, store = closed_and_gone()
    late = push("1", "new", update_time=1)
    assert driver.session.wanted([late]) == {"1"}
    batch = store.feed(late)
    assert outcomes(batch) == [Outcome.STALE]
    assert driver.session.book.rows["1"].state == "filled"
    assert driver.session.book.open_count() == 0
    assert "1" not in batch.orders, "the book's row was rewritten by a stale update"


def test_a_repeated_close_for_an_order_let_go_is_a_duplicate() -> None:
    _driver, store = closed_and_gone()
    batch = store.feed(push("1", "filled", "2", update_time=5))
    assert outcomes(batch) == [Outcome.DUPLICATE]


def test_a_lagging_seed_that_still_lists_an_order_let_go_does_not_reopen_it() -> None:
    driver, store = closed_and_gone()
    driver.later(900).feed(Tick())  # the periodic reconcile
    assert driver.session.phase is Phase.RECONCILING
    store.feed(SeedBegin(driver.token))
    batch = store.feed(Seeded(driver.token, [Decoded([order("1")])], "seed_v4"))
    assert driver.session.phase is Phase.LIVE
    assert outcomes(batch) == [Outcome.STALE]
    assert driver.session.book.open_count() == 0
    assert batch.state["status"] == "live, 0 open orders"


def test_a_detail_answer_for_an_order_let_go_is_read_back_first() -> None:
    driver, _store = closed_and_gone()
    assert driver.session.wanted([Detail("1", None, None)]) == {"1"}
    assert driver.session.wanted([Detail("99", None, None)]) == set()


def test_without_the_read_back_the_late_push_would_reopen_the_order() -> None:
    """The reason for `wanted`: the same late push, handed in without reading back."""
    driver, _store = closed_and_gone()
    batch = driver.feed(push("1", "new", update_time=1))
    assert outcomes(batch) == [Outcome.APPLIED]
    assert driver.session.book.open_count() == 1


def test_nothing_is_let_go_while_pushes_are_held_for_a_seed() -> None:
    """A held push's order was read back when the push arrived; the splice applies it
    later, so the row must still be there then, however long the seed took."""
    driver = live(session(closed_in_memory=HOLD), order("1"))
    store = Committed(driver)
    store.feed(push("1", "filled", "2", update_time=5))
    store.commit()
    driver.feed(Down(1, "closed"))
    driver.feed(Up(2))
    store.feed(SeedBegin(driver.token))
    assert driver.session.phase is Phase.SEEDING
    store.feed(push("1", "filled", "2", update_time=5))  # held for the splice
    driver.later(HOLD + 1).feed(Tick())
    assert "1" in driver.session.book.rows, "let go with a push for it held"
    batch = store.feed(Seeded(driver.token, [Decoded([])], "seed_v4"))
    assert outcomes(batch) == [Outcome.DUPLICATE]
    driver.feed(Tick())
    assert "1" not in driver.session.book.rows


def test_an_order_read_back_is_held_again_then_let_go_again() -> None:
    driver, store = closed_and_gone()
    store.feed(push("1", "filled", "2", update_time=5))
    assert "1" in driver.session.book.rows
    store.commit()
    driver.later(HOLD + 1).feed(Tick())
    assert "1" not in driver.session.book.rows


def test_the_book_refuses_to_let_an_open_order_go() -> None:
    book = Book([order("1")])
    with pytest.raises(ValueError, match="open"):
        book.let_go("1")
    assert book.open_count() == 1 and not book.elsewhere("1")


def test_gone_never_forgets_an_id_past_its_capacity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Gone, "FIRST", 1000)
    gone = Gone()
    ids = [str(10**17 + i) for i in range(10_000)]
    for oid in ids:
        gone.add(oid)
    assert len(gone.filters) > 1, "a full filter kept taking adds"
    assert all(oid in gone for oid in ids)
    strangers = [str(2 * 10**17 + random.randrange(10**15)) for _ in range(10_000)]
    false = sum(oid in gone for oid in strangers)
    assert false < 0.05 * len(strangers), f"{false} false positives in 10,000"
