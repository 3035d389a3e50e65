"""OKX's orders-pending cursor from written pages: one pass, backwards by the last ordId,
and no order open throughout the read is ever skipped, however orders close and open
between pages (docs/okx.md "The seed" gives the reasoning; test_face.py does the same
against the face's `page_shift` fault)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tracker.exchange.errors import BadResponse
from tracker.venues.okx.cursor import PendingCursor


def page(open_ids: set[int], after: str | None, limit: int) -> list[dict[str, Any]]:
    """What OKX answers: the open orders older than `after`, newest first, `limit` at most."""
    below = sorted((i for i in open_ids if after is None or i < int(after)), reverse=True)
    return [{"ordId": str(i)} for i in below[:limit]]


@pytest.mark.parametrize("seed", range(200))
def test_no_order_open_throughout_is_skipped_while_others_close_and_open(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.randint(1, 7)
    open_ids = set(rng.sample(range(1, 400), rng.randint(0, 60)))
    next_id = 400  # ordIds grow: a new order is newer than every page read
    touched: set[int] = set()  # closed at some point of the read, or placed during it
    before = set(open_ids)
    cursor = PendingCursor("BTC-USDT", limit=limit)
    while (request := cursor.next_request()) is not None:
        cursor.take(page(open_ids, request.after, limit))
        for victim in rng.sample(sorted(open_ids), min(len(open_ids), rng.randint(0, 3))):
            open_ids.discard(victim)
            touched.add(victim)
        for _ in range(rng.randint(0, 3)):
            next_id += 1
            open_ids.add(next_id)
            touched.add(next_id)
    seed_ids = {int(r["ordId"]) for r in cursor.result().rows}
    assert before - touched <= seed_ids
    assert seed_ids <= before  # nothing placed after the first page is read
    assert cursor.result().uncertain == [] and cursor.result().passes == 1


def test_the_pages_asked_for() -> None:
    cursor = PendingCursor(None, limit=2, keep=lambda r: r["ordId"])
    first = cursor.next_request()
    assert first is not None and first.params() == [("instType", "SPOT"), ("limit", "2")]
    cursor.take([{"ordId": "9"}, {"ordId": "8"}])
    second = cursor.next_request()
    assert second is not None and second.params() == [("instType", "SPOT"), ("after", "8"),
                                                      ("limit", "2")]
    tally = cursor.take([{"ordId": "7"}])
    assert (tally.read, cursor.next_request(), cursor.pages) == (3, None, 2)
    assert cursor.result().rows == ["9", "8", "7"]


def test_a_row_without_an_ordid_reaches_the_codec_and_an_empty_page_ends() -> None:
    cursor = PendingCursor("BTC-USDT", limit=4)
    cursor.take([{"ordId": "5"}, "junk", {"ordId": 4}])
    assert cursor.next_request() is None
    assert cursor.result().rows == [{"ordId": "5"}, "junk", {"ordId": 4}]
    empty = PendingCursor("BTC-USDT")
    empty.take([])
    assert empty.result().rows == []


@pytest.mark.parametrize(("pages", "words"), [
    ([[{"ordId": "9"}, {"ordId": "x"}]], "no ordId to page on"),
    ([[{"ordId": "9"}, "junk"]], "no ordId to page on"),
    ([[{"ordId": "9"}, {"ordId": "8"}], [{"ordId": "10"}, {"ordId": "8"}]],
     "do not move back"),
])
def test_a_full_page_the_cursor_cannot_move_past_is_refused(pages: list[list[Any]],
                                                            words: str) -> None:
    cursor = PendingCursor("BTC-USDT", limit=2)
    with pytest.raises(BadResponse, match=words):
        for rows in pages:
            cursor.take(rows)


def test_limits() -> None:
    with pytest.raises(ValueError):
        PendingCursor(None, limit=101)
    with pytest.raises(RuntimeError):
        PendingCursor(None).result()
