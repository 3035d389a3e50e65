"""OKX's pure cursor over `orders-pending`: which page to fetch next and what came back, with
no I/O and no clock, so every paging decision is tested from written pages.

Pages are newest first, 100 at most, and `after=<ordId>` asks for the orders older than
that one ([OKX] #order-book-trading-trade-get-order-list, [OKX-BP] "Pagination", as
docs/okx.md cites them). The cursor is an order's id, not a position: an order that closes
between two reads removes itself and moves no other order, so the next page starts at the
same place or later, never earlier, and an order open throughout is never skipped. One
pass is complete, which BitMart's offset pages (`tracker/venues/bitmart/cursors.py`,
`V2Cursor`) cannot promise. docs/okx.md "The seed" gives the reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.exchange.errors import BadResponse
from tracker.venue import Keep, Seed, Tally
from tracker.venues.okx.protocol import AFTER, ORDER_ID, PAGE_MAX, SPOT


def _as_is(row: Any) -> Any:
    return row


@dataclass(frozen=True)
class PendingPage:
    """One `GET /api/v5/trade/orders-pending` query."""

    inst_id: str | None  # None: every spot instrument
    after: str | None  # the ordId the page starts below (exclusive); None: the newest
    limit: int

    def params(self) -> list[tuple[str, str]]:
        params = [("instType", SPOT)]
        if self.inst_id is not None:
            params.append(("instId", self.inst_id))
        if self.after is not None:
            params.append((AFTER, self.after))
        return [*params, ("limit", str(self.limit))]


class PendingCursor:
    """Pages backwards from the newest open order until a page shorter than asked for."""

    def __init__(self, inst_id: str | None, *, limit: int = PAGE_MAX,
                 keep: Keep | None = None) -> None:
        if not 1 <= limit <= PAGE_MAX:
            raise ValueError(f"limit: 1 to {PAGE_MAX}")
        self.inst_id = inst_id
        self.limit = limit
        self.keep = keep or _as_is
        self._after: str | None = None
        self._rows: dict[str, Any] = {}
        self._done = False
        self.pages = 0

    def next_request(self) -> PendingPage | None:
        """The page to fetch, the same until `take` is given its answer; None when done."""
        return None if self._done else PendingPage(self.inst_id, self._after, self.limit)

    def take(self, rows: list[Any]) -> Tally:
        """The answer to `next_request`: its `data` array."""
        if self._done:
            raise RuntimeError("the read is over")
        self.pages += 1
        for row in rows:
            # A row without a readable ordId keys by itself, so it reaches the codec, which
            # refuses it where a person sees it, instead of vanishing here.
            key = row.get("ordId") if isinstance(row, dict) else None
            self._rows[key if isinstance(key, str) else repr(row)] = self.keep(row)
        if len(rows) < self.limit:
            self._done = True
        else:
            self._after = self._next_after(rows[-1])
        return Tally(len(self._rows), len(self._rows))

    def _next_after(self, last: Any) -> str:
        """The last row's ordId, which must lie below the page's own cursor: a cursor that
        did not move would read the same page for ever."""
        key = last.get("ordId") if isinstance(last, dict) else None
        if not isinstance(key, str) or not ORDER_ID.fullmatch(key):
            raise BadResponse(f"orders-pending: a full page's last row has no ordId to page "
                              f"on: {str(key)[:40]!r}")
        if self._after is not None and int(key) >= int(self._after):
            raise BadResponse(f"orders-pending: the page after {self._after} ends at {key}, "
                              "not older: the pages do not move back")
        return key

    def result(self) -> Seed:
        if not self._done:
            raise RuntimeError("the read is not over")
        return Seed(list(self._rows.values()), [], 1)
