"""The paging cursors, driven by written sequences of exchange answers: no sockets, no clock.

Each answer is cut the way the simulator cuts it (`simulator/faces/bitmart/rest_v2.py`,
`rest_v4.py`) from the list the exchange holds at that moment; a test writes down which
list that is at each request, and which requests the cursor must make, in order.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

from tracker.venue import Seed, Tally
from tracker.venues.bitmart.cursors import V2Cursor, V2Page, V4Cursor, V4Window
from tracker.venues.bitmart.keys import Keys as Credentials
from tracker.venues.bitmart.rest import V2Rest, V4Rest

BEGAN = 1_700_000_000_000  # the server's time as the read starts
SINCE = 1_514_764_800_000


def v2_row(n: int, created: int) -> dict[str, Any]:
    return {"entrust_id": 1000 + n, "symbol": "BTC_USDT", "timestamp": created, "status": 1}


def ids(rows: list[Any], name: str = "entrust_id") -> list[str]:
    return sorted(str(r[name]) for r in rows)


# Orders A..K (no I, which reads as a one), in creation order; A..G were open before the
# read began, H, J and K came after.
A, B, C, D, E, F, G = (v2_row(n, BEGAN - 100 + n) for n in range(7))
H, J, K = (v2_row(n, BEGAN + n) for n in range(7, 10))


def v2_answer(listing: list[Any], offset: int, limit: int) -> tuple[list[Any], int, int]:
    """What `GET /v2/orders` returns: one page of the list, the page count, the total."""
    return (listing[offset * limit:(offset + 1) * limit], math.ceil(len(listing) / limit),
            len(listing))


def read_v2(cursor: V2Cursor, steps: list[tuple[int, int, list[Any]]]) -> list[Tally]:
    """Each step: the (offset, limit) the cursor must ask for, and the list then held."""
    tallies = []
    for offset, limit, listing in steps:
        assert cursor.next_request() == V2Page("BTC_USDT", offset, limit)
        tallies.append(cursor.take(*v2_answer(listing, offset, limit)))
    assert cursor.next_request() is None
    return tallies


def v2_cursor(page_size: int, max_passes: int = 4) -> V2Cursor:
    return V2Cursor("BTC_USDT", page_size=page_size, max_passes=max_passes, began_ms=BEGAN)


def test_v2_quiet_list_two_passes_back_to_front_with_another_cut() -> None:
    listing = [A, B, C, D, E]
    cursor = v2_cursor(page_size=2)
    tallies = read_v2(cursor, [
        (0, 2, listing), (2, 2, listing), (1, 2, listing), (0, 2, listing),
        (0, 1, listing), (4, 1, listing), (3, 1, listing), (2, 1, listing), (1, 1, listing),
        (0, 1, listing)])
    seed = cursor.result()
    assert ids(seed.rows) == ids(listing) and seed.uncertain == [] and seed.passes == 2
    assert not cursor.unsettled
    # Progress counts each pass from zero against the total the page announced.
    assert [(t.read, t.expected) for t in tallies] == [
        (2, 5), (3, 5), (5, 5), (5, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5), (5, 5)]


def test_v2_page_is_the_documented_query() -> None:
    assert V2Page("ETH_USDT", 3, 50).params() == {"symbol": "ETH_USDT", "status": 5,
                                                  "offset": 3, "limit": 50}


def test_v2_orders_moving_between_pages_are_found_by_a_later_pass() -> None:
    """Listed newest first, two new orders push B and C onto a page already read: the
    first pass never sees them, the second does (they are old, so a gap was closed),
    and the third agrees with the second."""
    before = [G, F, E, D, C, B, A]
    after = [J, H, *before]
    cursor = v2_cursor(page_size=3)
    read_v2(cursor, [
        (0, 3, before), (2, 3, before), (1, 3, after), (0, 3, after),  # B and C skipped
        (0, 2, after), (4, 2, after), (3, 2, after), (2, 2, after), (1, 2, after),
        (0, 2, after),
        *[(page, 1, after) for page in (0, 8, 7, 6, 5, 4, 3, 2, 1, 0)]])
    seed = cursor.result()
    assert ids(seed.rows) == ids(after) and seed.uncertain == [] and seed.passes == 3


def test_v2_orders_closed_mid_read_come_back_uncertain() -> None:
    """Listed oldest first, A, B and C close and H, J and K open during the first pass,
    which still reads five rows against a steady total of five; the second pass is
    consistent and finds no old order the first missed (the new ones are the stream's),
    so the read ends with A and B to ask about."""
    start, later = [A, B, C, D, E], [D, E, H, J, K]
    cursor = v2_cursor(page_size=2)
    read_v2(cursor, [
        (0, 2, start), (2, 2, start), (1, 2, [C, D, E, H, J]), (0, 2, later),
        *[(page, 1, later) for page in (0, 4, 3, 2, 1, 0)]])
    seed = cursor.result()
    assert ids(seed.rows) == ids(later)
    assert seed.uncertain == ids([A, B]) and seed.passes == 2
    assert not cursor.unsettled


def test_v2_keeps_what_keep_makes_of_each_row_and_only_ids_of_earlier_passes() -> None:
    """A seed holds what its decoder made of each row, never the raw rows past their page;
    the passes' agreement and the uncertain ids come out as with raw rows. The first pass
    never ends a read of several passes, so its rows are not decoded at all."""
    start, later = [A, B, C, D, E], [D, E, H, J, K]
    taken: list[Any] = []

    def keep(row: Any) -> tuple[str, str]:
        taken.append(row)
        return ("kept", str(row["entrust_id"]))

    cursor = V2Cursor("BTC_USDT", page_size=2, max_passes=4, began_ms=BEGAN, keep=keep)
    read_v2(cursor, [
        (0, 2, start), (2, 2, start), (1, 2, [C, D, E, H, J]), (0, 2, later),
        *[(page, 1, later) for page in (0, 4, 3, 2, 1, 0)]])
    seed = cursor.result()
    assert sorted(seed.rows) == [("kept", i) for i in ids(later)]
    assert seed.uncertain == ids([A, B])
    assert len(taken) == 6  # each row of each page of the second pass, as it came
    v4 = V4Cursor("ETH_USDT", since_ms=SINCE, page_size=200, keep=lambda r: r["orderId"])
    read_v4(v4, [v4_row(1, BEGAN), v4_row(2, BEGAN + 1)])
    assert sorted(v4.result().rows) == ids([v4_row(1, BEGAN), v4_row(2, BEGAN + 1)], "orderId")


def test_v2_a_single_pass_read_keeps_its_rows() -> None:
    """With one pass allowed, the first pass is the last: its rows are decoded and kept."""
    taken: list[Any] = []
    cursor = V2Cursor("BTC_USDT", page_size=2, max_passes=1, began_ms=BEGAN,
                      keep=lambda row: taken.append(row) or str(row["entrust_id"]))
    read_v2(cursor, [(0, 2, [A, B, C]), (1, 2, [A, B, C]), (0, 2, [A, B, C])])
    assert sorted(cursor.result().rows) == ids([A, B, C]) and len(taken) == 5


def test_v2_passes_run_out_unsettled() -> None:
    """Each pass finds an old order the one before missed; at the last pass the read
    ends anyway, flagged, with what the last pass lacks handed back as uncertain."""
    cursor = v2_cursor(page_size=2, max_passes=2)
    read_v2(cursor, [
        (0, 2, [A, B, C]), (1, 2, [A, B, C]), (0, 2, [A, B, C]),  # D not yet listed
        (0, 1, [B, C, D]), (2, 1, [B, C, D]), (1, 1, [B, C, D]), (0, 1, [B, C, D])])
    seed = cursor.result()
    assert cursor.unsettled and seed.passes == 2
    assert ids(seed.rows) == ids([B, C, D]) and seed.uncertain == ids([A])


def test_v2_empty_list_is_two_single_page_passes() -> None:
    cursor = v2_cursor(page_size=100)
    tallies = read_v2(cursor, [(0, 100, []), (0, 99, [])])
    assert cursor.result() == Seed([], [], 2)
    assert tallies == [Tally(0, 0), Tally(0, 0)]


def test_v2_one_page_is_not_read_twice_in_a_pass() -> None:
    cursor = v2_cursor(page_size=10)
    read_v2(cursor, [(0, 10, [A, B]), (0, 9, [A, B])])
    assert ids(cursor.result().rows) == ids([A, B])


def test_v2_cut_never_falls_below_one_row() -> None:
    cursor = v2_cursor(page_size=1, max_passes=3)
    read_v2(cursor, [(0, 1, [A]), (0, 1, [A])])
    assert cursor.result().passes == 2


def test_v2_rate_limit_between_pages_repeats_the_request() -> None:
    """A refused request is never `take`n: the cursor asks for the same page again, and
    the read ends exactly as if the refusal had not happened."""
    listing = [A, B, C]
    cursor = v2_cursor(page_size=2)
    cursor.take(*v2_answer(listing, 0, 2))
    asked = cursor.next_request()
    assert asked == V2Page("BTC_USDT", 1, 2)
    assert cursor.next_request() == asked  # the 429 came back; the client asks again
    cursor.take(*v2_answer(listing, 1, 2))
    read_v2(cursor, [(0, 2, listing)] + [(p, 1, listing) for p in (0, 2, 1, 0)])
    assert ids(cursor.result().rows) == ids(listing) and cursor.result().passes == 2


def test_v2_cursor_refuses_answers_out_of_turn() -> None:
    cursor = v2_cursor(page_size=10)
    with pytest.raises(RuntimeError):
        cursor.result()
    read_v2(cursor, [(0, 10, [A]), (0, 9, [A])])
    with pytest.raises(RuntimeError):
        cursor.take([A], 1, 1)


def v4_row(n: int, created: int | str) -> dict[str, Any]:
    return {"orderId": str(995_232_205_536_716_288 + n), "symbol": "ETH_USDT",
            "state": "new", "createTime": created}


def v4_answer(listing: list[dict[str, Any]], window: V4Window) -> list[dict[str, Any]]:
    """What `POST /spot/v4/query/open-orders` returns: newest first, at most `limit`, with
    both ends of the window inclusive."""
    body = window.body()
    start, end = body.get("startTime"), body.get("endTime")
    rows = [r for r in listing if (start is None or int(r["createTime"]) >= start)
            and (end is None or int(r["createTime"]) <= end)]
    rows.sort(key=lambda r: (int(r["createTime"]), int(r["orderId"])), reverse=True)
    return rows[:body["limit"]]


def read_v4(cursor: V4Cursor, listing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every request the cursor makes, answered from `listing`; the request bodies."""
    asked = []
    while (window := cursor.next_request()) is not None:
        asked.append(window.body())
        assert len(asked) < 50, "the cursor does not make progress"
        cursor.take(v4_answer(listing, window))
    return asked


def test_v4_first_window_is_wide_and_a_short_page_ends_the_read() -> None:
    """An explicit startTime: without it the exchange lists only the last 7 days."""
    month_old = v4_row(0, BEGAN - 30 * 24 * 3600 * 1000)
    cursor = V4Cursor("ETH_USDT", since_ms=SINCE, page_size=200)
    asked = read_v4(cursor, [month_old, v4_row(1, BEGAN)])
    assert asked == [{"startTime": SINCE, "limit": 200, "symbol": "ETH_USDT"}]
    assert ids(cursor.result().rows, "orderId") == ids([month_old, v4_row(1, BEGAN)],
                                                       "orderId")
    every = V4Cursor(None, since_ms=SINCE, page_size=200)
    assert every.next_request() == V4Window(SINCE, 200)
    assert every.next_request().body() == {"startTime": SINCE, "limit": 200}


def test_v4_limit_is_capped_at_200() -> None:
    assert V4Cursor(None, since_ms=SINCE, page_size=1000).next_request() == V4Window(SINCE, 200)


def test_v4_empty_answer_ends_the_read() -> None:
    cursor = V4Cursor(None, since_ms=SINCE, page_size=200)
    assert read_v4(cursor, []) == [{"startTime": SINCE, "limit": 200}]
    assert cursor.result() == Seed([], [], 1)


def test_v4_full_page_ending_on_equal_create_times_loses_none() -> None:
    """200 rows, the last three of five sharing one millisecond: the next window ends one
    past it, so the two that did not fit come in the second answer, and the three that
    did come again without being counted twice."""
    t = BEGAN - 1000
    newer = [v4_row(n, t + 1 + n) for n in range(197)]
    tied = [v4_row(200 + n, t) for n in range(5)]
    older = [v4_row(300 + n, t - 1 - n) for n in range(10)]
    listing = newer + tied + older
    cursor = V4Cursor(None, since_ms=SINCE, page_size=200)
    first = v4_answer(listing, cursor.next_request())
    assert len(first) == 200 and [r["createTime"] for r in first[-3:]] == [t, t, t]
    tally = cursor.take(first)
    assert tally == Tally(200, 200)
    assert cursor.next_request() == V4Window(SINCE, 200, None, t + 1)
    second = v4_answer(listing, cursor.next_request())
    assert cursor.take(second) == Tally(212, 212)  # 16 rows, 4 of them already read
    assert cursor.next_request() is None
    got = ids(cursor.result().rows, "orderId")
    assert got == ids(listing, "orderId") and len(got) == len(set(got))


def test_v4_window_that_brings_nothing_new_shrinks() -> None:
    """More than a page at one millisecond cannot be paged past by time: a window with
    nothing new moves its end back a millisecond at a time instead of asking again."""
    t = BEGAN - 1000
    listing = [v4_row(n, t) for n in range(3)] + [v4_row(10, t - 5)]
    cursor = V4Cursor(None, since_ms=SINCE, page_size=2)
    asked = read_v4(cursor, listing)
    assert [body.get("endTime") for body in asked] == [None, t + 1, t, t - 1]
    assert ids(cursor.result().rows, "orderId") == ids(
        [v4_row(2, t), v4_row(1, t), v4_row(10, t - 5)], "orderId")


def test_v4_window_closing_at_start_time_ends_the_read() -> None:
    listing = [v4_row(0, SINCE), v4_row(1, SINCE)]
    cursor = V4Cursor(None, since_ms=SINCE, page_size=2)
    asked = read_v4(cursor, listing)
    assert [body.get("endTime") for body in asked] == [None, SINCE + 1]
    assert len(cursor.result().rows) == 2


def test_v4_full_page_without_usable_times_ends_the_read() -> None:
    """Nothing to page on: asking again would only bring the same rows."""
    rows = [v4_row(0, "soon"), v4_row(1, "later")]
    cursor = V4Cursor("ETH_USDT", since_ms=SINCE, page_size=2)
    cursor.take(rows)
    assert cursor.next_request() is None and len(cursor.result().rows) == 2


def test_v4_pages_on_string_times_and_keeps_rows_that_are_not_objects() -> None:
    """The codec accepts "1700000000000" and refuses a bare number; paging must move on
    the first and hand the second on to be refused, not drop it."""
    listing = [v4_row(n, str(BEGAN + n)) for n in range(5)]
    cursor = V4Cursor(None, since_ms=SINCE, page_size=2)
    asked = read_v4(cursor, listing)
    # Both ends of the window are inclusive, so each window after the first starts
    # with the row that ended the one before.
    assert [body.get("endTime") for body in asked] == [None] + [BEGAN + n
                                                                 for n in (4, 3, 2, 1, 0)]
    assert ids(cursor.result().rows, "orderId") == ids(listing, "orderId")
    odd = V4Cursor(None, since_ms=SINCE, page_size=200)
    odd.take([7])
    assert odd.result().rows == [7]


def test_v4_rate_limit_between_pages_repeats_the_request() -> None:
    listing = [v4_row(n, BEGAN + n) for n in range(3)]
    cursor = V4Cursor(None, since_ms=SINCE, page_size=2)
    cursor.take(v4_answer(listing, cursor.next_request()))
    asked = cursor.next_request()
    assert asked == V4Window(SINCE, 2, None, BEGAN + 2)
    assert cursor.next_request() == asked  # refused: the same window again
    cursor.take(v4_answer(listing, asked))
    assert [body.get("endTime") for body in read_v4(cursor, listing)] == [BEGAN + 1, BEGAN]
    assert ids(cursor.result().rows, "orderId") == ids(listing, "orderId")


CREDS = Credentials("key", "secret", "memo")


def exchange(handler: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://exchange.test",
                             transport=httpx.MockTransport(handler))


async def test_clients_send_a_refused_page_again_and_report_progress() -> None:
    """The client's loop: a rate-limit answer between two pages is retried by the client,
    with the same query, and the cursor sees only the answers."""
    v4_listing = [v4_row(n, BEGAN + n) for n in range(3)]
    v2_listing = [A, B, C]
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/authentication":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 900})
        if request.url.path == "/v2/orders":
            query = dict(request.url.params)
            sent.append(query)
            if len(sent) == 2:
                return httpx.Response(429, json={"code": -30, "msg": "Visit too often"})
            rows, pages, total = v2_answer(v2_listing, int(query["offset"]),
                                           int(query["limit"]))
            return httpx.Response(200, json={"orders": rows, "total_pages": pages,
                                             "total_orders": total})
        body = json.loads(request.content)
        sent.append(body)
        if len(sent) == 2:
            return httpx.Response(429, json={"code": 30013, "message": "slow down"})
        window = V4Window(body["startTime"], body["limit"], None, body.get("endTime"))
        return httpx.Response(200, json={"code": 1000, "data": v4_answer(v4_listing, window)})

    progress: list[tuple[str, int, int]] = []
    v4 = V4Rest("http://exchange.test", CREDS, since_ms=SINCE, page_size=2)
    v4.http = exchange(handler)
    try:
        seed = await v4.seed(None, lambda *args: progress.append(args))
    finally:
        await v4.aclose()
    assert [b.get("endTime") for b in sent] == [None, BEGAN + 2, BEGAN + 2, BEGAN + 1, BEGAN]
    assert ids(seed.rows, "orderId") == ids(v4_listing, "orderId")
    assert progress == [("*", 2, 2), ("*", 2, 2), ("*", 3, 3), ("*", 3, 3)]
    assert v4.stats["errors_code_30013"] == 1

    sent.clear()
    progress.clear()
    v2 = V2Rest("http://exchange.test", CREDS, page_size=2, rate=1000)
    v2.http = exchange(handler)
    try:
        seed = await v2.seed("BTC_USDT", lambda *args: progress.append(args))
    finally:
        await v2.aclose()
    assert [(q["offset"], q["limit"]) for q in sent] == [
        ("0", "2"), ("1", "2"), ("1", "2"), ("0", "2"),
        ("0", "1"), ("2", "1"), ("1", "1"), ("0", "1")]
    assert all(q["symbol"] == "BTC_USDT" and q["status"] == "5" for q in sent)
    assert ids(seed.rows) == ids(v2_listing) and seed.passes == 2
    assert progress[:3] == [("BTC_USDT", 2, 3), ("BTC_USDT", 3, 3), ("BTC_USDT", 3, 3)]
    assert v2.stats["errors_http_429"] == 1
