"""Binance's updates through the book's merge rule (`Book.apply`): no sequence number, so
(state rank, filled quantity, transaction time) orders them ([BN] user-data-stream.md;
docs/binance.md "The merge")."""

from __future__ import annotations

from decimal import Decimal

from tracker.book import Book, Outcome
from tracker.codec import OrderUpdate
from tracker.venues.binance.codec import from_event, from_rest

from .payloads import REST_ROW, event

T0 = 1_767_225_600_000
NEW = event(s="BTCUSDT", i=42, c="mine", q="2.00000000", p="100.00", T=T0, O=T0)
AMEND = NEW | {"x": "REPLACED", "c": "amended", "q": "1.50000000", "T": T0 + 50}
TRADE = AMEND | {"x": "TRADE", "X": "PARTIALLY_FILLED", "z": "0.50000000",
                 "l": "0.50000000", "t": 9, "T": T0 + 90}
CANCEL = TRADE | {"x": "CANCELED", "X": "CANCELED", "c": "cxl1", "C": "amended",
                  "T": T0 + 120, "t": -1}


def applied(*events: dict) -> tuple[list[Outcome], OrderUpdate]:
    book = Book()
    outcomes = [book.apply(from_event(e))[0] for e in events]
    return outcomes, book.rows["BTCUSDT:42"]


def test_an_amend_wins_over_the_new_it_follows() -> None:
    outcomes, row = applied(NEW, AMEND)
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED]
    assert (row.size, row.client_order_id, row.update_time) == (
        Decimal("1.50000000"), "amended", T0 + 50)


def test_the_new_arriving_after_its_amend_is_stale() -> None:
    outcomes, row = applied(AMEND, NEW)
    assert outcomes == [Outcome.APPLIED, Outcome.STALE]
    assert row.size == Decimal("1.50000000") and row.client_order_id == "amended"


def test_a_duplicate_changes_nothing() -> None:
    outcomes, row = applied(NEW, AMEND, AMEND)
    assert outcomes[-1] is Outcome.DUPLICATE and row.size == Decimal("1.50000000")


def test_any_arrival_order_gives_the_same_row() -> None:
    ordered = applied(NEW, AMEND, TRADE, CANCEL)[1]
    for shuffled in [(CANCEL, TRADE, AMEND, NEW), (TRADE, NEW, CANCEL, AMEND),
                     (AMEND, CANCEL, NEW, TRADE)]:
        assert applied(*shuffled)[1] == ordered
    assert (ordered.state, ordered.filled_size, ordered.client_order_id) == (
        "partially_canceled", Decimal("0.50000000"), "amended")


def test_an_older_event_after_a_fill_is_stale() -> None:
    outcomes, row = applied(TRADE, AMEND)
    assert outcomes[-1] is Outcome.STALE and row.state == "partially_filled"


def test_a_lagging_rest_row_loses_to_the_push_and_an_equal_one_is_a_duplicate() -> None:
    """REST reads Memory => Database and can lag the engine ([BN] rest-api.md "Data
    Sources"): a row of the state before the amend loses."""
    book = Book()
    book.apply(from_event(AMEND))
    lagging = REST_ROW | {"symbol": "BTCUSDT", "orderId": 42, "clientOrderId": "mine",
                          "origQty": "2.00000000", "executedQty": "0.00000000",
                          "price": "100.00", "updateTime": T0}
    assert book.apply(from_rest(lagging, "seed"))[0] is Outcome.STALE
    current = lagging | {"origQty": "1.50000000", "clientOrderId": "amended",
                         "updateTime": T0 + 50}
    outcome, row = book.apply(from_rest(current, "seed"))
    assert outcome is Outcome.DUPLICATE and row.source == "push"
