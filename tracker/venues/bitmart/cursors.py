"""BitMart's pure cursors for reading a live open-order list page by page: v2 passes and v4
windows.

A cursor says which page to fetch next (`next_request`) and takes what came back (`take`);
the REST client sends, checks the envelope, paces and retries. Nothing here does I/O or
reads a clock, so every paging decision can be tested from a written sequence of pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.codec import time_ms
from tracker.venue import Keep, Seed, Tally
from tracker.venues.bitmart.protocol import V2_LIST_OPEN, V4_PAGE_MAX

Row = dict[str, Any]


def _as_is(row: Any) -> Any:
    return row


def _nothing(row: Any) -> None:
    return None


@dataclass(frozen=True)
class V2Page:
    """One `GET /v2/orders` query: page `offset` of the open list cut `limit` rows a page."""

    symbol: str
    offset: int
    limit: int

    def params(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "status": V2_LIST_OPEN, "offset": self.offset,
                "limit": self.limit}


@dataclass(frozen=True)
class V4Window:
    """One `POST /spot/v4/query/open-orders` body: the newest `limit` rows in a window."""

    start: int
    limit: int
    symbol: str | None = None
    end: int | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"startTime": self.start, "limit": self.limit}
        if self.symbol is not None:
            body["symbol"] = self.symbol
        if self.end is not None:
            body["endTime"] = self.end
        return body


def _key(row: Any, name: str) -> str:
    """A row's order id as the read's key; a row that is not an object keys by itself, so
    it reaches the codec (which refuses it) instead of vanishing here."""
    return str(row.get(name)) if isinstance(row, dict) else repr(row)


def _created(row: Any, name: str) -> int | None:
    return time_ms(row.get(name)) if isinstance(row, dict) else None


class V2Cursor:
    """Page-index reads until two consistent passes agree on the set (bounded).

    Page-index pagination over a live set skips an order whenever one before it closes
    between two page reads; a single pass can even look complete while missing one.

    Each pass reads every page once, last page first, then the first page again. Orders
    close anywhere in the list and new ones join at its end. Read front to back, a close
    behind the cursor slides an unread order onto a page already read; read back to front,
    it only slides read orders forward again (a harmless duplicate). The first page is read
    first (to learn the page count) and again at the end. A pass is consistent when the
    total never moved and matches what was read.
    """

    def __init__(self, symbol: str, *, page_size: int, max_passes: int, began_ms: int,
                 keep: Keep | None = None) -> None:
        """`began_ms`: the server's time as the read starts; older orders that a pass finds
        for the first time show the earlier passes had gaps."""
        if max_passes < 1:
            raise ValueError("max_passes: at least 1")
        self.symbol = symbol
        self.page_size = page_size
        self.max_passes = max_passes
        self.began_ms = began_ms
        self.keep = keep or _as_is
        self.unsettled = False  # the passes ran out before the read settled
        self._n = 1  # the pass under way, from 1
        self._step = 0  # pages taken in this pass
        self._pages = 0  # the page count the pass's first answer gave
        self._rows: dict[str, tuple[Any, int | None]] = {}  # id: (kept, created)
        self._totals: set[int] = set()
        self._seen: set[str] = set()  # every earlier pass's ids
        self._previous: set[str] | None = None  # the last consistent pass's ids
        self._result: Seed | None = None

    def next_request(self) -> V2Page | None:
        """The page to fetch, the same until `take` is given its answer; None when done."""
        if self._result is not None:
            return None
        # Step 0 and the last step read the first page; those between, the last to the second.
        offset = self._pages - self._step if 0 < self._step < self._pages else 0
        # Each pass cuts the list at other places, so no alignment of closes with page
        # boundaries can hide the same order from every pass.
        return V2Page(self.symbol, offset, max(1, self.page_size - (self._n - 1)))

    def take(self, rows: list[Any], pages: int, total: int) -> Tally:
        """The answer to `next_request`: its rows, `total_pages` and `total_orders`."""
        if self._result is not None:
            raise RuntimeError("the read is over")
        self._totals.add(total)
        # The first of several passes never ends the read (it has no pass to agree with), so
        # its rows are only counted and dated, not kept.
        keep = self.keep if self._n > 1 or self.max_passes == 1 else _nothing
        for row in rows:
            self._rows[_key(row, "entrust_id")] = (keep(row), _created(row, "timestamp"))
        if self._step == 0:
            self._pages = pages
        self._step += 1
        tally = Tally(len(self._rows), total)
        if self._step >= (self._pages + 1 if self._pages > 1 else 1):
            self._end_pass()
        return tally

    def result(self) -> Seed:
        if self._result is None:
            raise RuntimeError("the read is not over")
        return self._result

    def _end_pass(self) -> None:
        rows, seen, n = self._rows, self._seen, self._n
        ids = set(rows)
        consistent = len(self._totals) == 1 and len(rows) == next(iter(self._totals))
        if consistent and self._previous == ids:
            self._result = self._seed([])
            return
        # While orders keep changing, passes never agree exactly. A pass that finds no
        # order older than the seed which the earlier passes missed has closed the gaps:
        # newer orders are covered by the stream, and orders seen before but not in this
        # pass are handed back as uncertain, to be asked about one by one.
        missed = [k for k in ids - seen if (rows[k][1] or 0) < self.began_ms]
        if n > 1 and not missed:
            self._result = self._seed(sorted(seen - ids))
            return
        seen.update(ids)
        self._previous = ids if consistent else None
        if n == self.max_passes:
            self.unsettled = True
            self._result = self._seed(sorted(seen - ids))
            return
        self._n, self._step, self._pages = n + 1, 0, 0
        self._rows, self._totals = {}, set()

    def _seed(self, uncertain: list[str]) -> Seed:
        return Seed([kept for kept, _ in self._rows.values()], uncertain, self._n)


class V4Cursor:
    """Windows back in time with `endTime`: at most 200 rows an answer, newest first.

    Windows in time do not shift when orders close, so one pass is enough; an explicit
    `startTime` avoids the 7-day default window that would hide older orders.
    """

    def __init__(self, symbol: str | None, *, since_ms: int, page_size: int,
                 keep: Keep | None = None) -> None:
        self.symbol = symbol
        self.since_ms = since_ms
        self.limit = min(page_size, V4_PAGE_MAX)
        self.keep = keep or _as_is
        self._end: int | None = None
        self._seen: dict[str, Any] = {}
        self._done = False

    def next_request(self) -> V4Window | None:
        """The window to fetch, the same until `take` is given its answer; None when done."""
        if self._done:
            return None
        return V4Window(self.since_ms, self.limit, self.symbol, self._end)

    def take(self, rows: list[Any]) -> Tally:
        """The answer to `next_request`: its `data` list."""
        if self._done:
            raise RuntimeError("the read is over")
        fresh = 0
        times = []
        for row in rows:
            key = _key(row, "orderId")
            fresh += key not in self._seen
            self._seen[key] = self.keep(row)
            if (created := _created(row, "createTime")) is not None:
                times.append(created)
        tally = Tally(len(self._seen), len(self._seen))
        if len(rows) < self.limit or not times:
            self._done = True
            return tally
        oldest = min(times)
        # endTime one past the oldest seen is safe whether the bound is inclusive or not;
        # when a window brought nothing new, shrink it to make progress.
        nxt = oldest + 1 if fresh else oldest
        end = self._end
        self._end = nxt if end is None or nxt < end else end - 1
        self._done = self._end <= self.since_ms
        return tally

    def result(self) -> Seed:
        if not self._done:
            raise RuntimeError("the read is not over")
        return Seed(list(self._seen.values()), [], 1)
