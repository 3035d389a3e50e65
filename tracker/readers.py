"""What every reader of the book shares, whichever database keeps it: the columns they
show, how a `sync_state` row is judged (`judged`), and the one failure they report
(`Unavailable`). Each backend's own reads are `tracker.sqlite.readers` and
`tracker.postgres.readers`.

`Wakeup`, the client of an SQLite book's change feed, is here for other programs: it needs
nothing but the standard library and the book's path.
"""

from __future__ import annotations

import re
import select
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

ORDER_FIELDS = ("order_id", "symbol", "side", "type", "price", "size", "filled_size",
                "filled_notional", "state", "client_order_id", "created_at", "updated_at",
                "unresolved", "unified_symbol")
# The first schema whose `open_orders` has `unified_symbol` (migrations/0008).
MARKETS_SCHEMA = 8
# sync_state's times, in ms since the epoch; `tracker status --json` gives each in ISO 8601
# too, as `<name>_iso`.
TIME_FIELDS = ("started_at", "heartbeat_at", "live_since", "last_event_at", "last_seed_at")
# The daemon's status text carries its own count of open orders, written at another moment
# than any count a reader makes: a reader shows its own count and these words without it.
STATUS_COUNT = re.compile(r",?\s*\d+ open orders")
NEVER_RAN = "no daemon has run on this book yet"
HEARTBEAT_STALE_MS = 15_000
# The daemon commits at least once a second; `live = 1` with an older last commit means the
# writer is stuck (a full disk, a lock held by another process) and the book may be behind.
LIVE_STALE_MS = 5_000
# A heartbeat later than the reader's clock by more than this was written by a clock that
# is not the reader's (a writer's clock ahead, or the reader's behind, or a clock that
# jumped back): its age says nothing, so the book is not taken as current.
FUTURE_TOLERANCE_MS = 1_000


class Unavailable(Exception):
    """The book cannot be read (missing file, no permission, not a tracker database, a
    PostgreSQL server that cannot be reached)."""


class Journal(Protocol):
    """What `tracker watch` asks of a book's journal, inside one read transaction, on either
    backend: each answers in its own SQL, in the same shapes."""

    def book_id(self) -> str | None: ...

    def bounds(self) -> tuple[int | None, int]:
        """The lowest seq the journal keeps (None: no row) and the highest ever used."""

    def changes(self, last: int, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` journal rows after `last`, each with its order's symbol."""

    def open_orders(self, symbol: str | None) -> list[dict[str, Any]]: ...


def order_columns(schema: int) -> str:
    """ORDER_FIELDS as a select list for a book at `schema`: one from before schema 8 (read
    by this version before its daemon restarted and migrated it) has no unified symbols
    yet, which it gives as NULL, as for a market not recorded."""
    return ", ".join(f"NULL AS {f}" if f == "unified_symbol" and schema < MARKETS_SCHEMA
                     else f for f in ORDER_FIELDS)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def judged(state: dict[str, Any], now: int, *, held: bool) -> dict[str, Any]:
    """`state` (a `sync_state` row, `open_orders` and `schema`, of either backend) with `live`
    as a reader should take it: the column, and a commit within LIVE_STALE_MS (the column
    cannot be cleared while writes fail). `status` is the daemon's words without its count.

    `now` is the clock the heartbeat was written with: the database server's on PostgreSQL
    (its writer stamps `heartbeat_at` with it), this host's on SQLite. `held`: a writer
    holds the book now (the account's lock; an SQLite book's `<db>.seq` lock): one whose
    heartbeat is old is a stalled writer, not a daemon that is gone."""
    state.pop("id", None)
    # Which exchange the book is of (sync_state's since schema 7; None before, or until a
    # tracker records it), a field of every status however old the book.
    state.setdefault("venue", None)
    heartbeat = state.get("heartbeat_at") or 0
    age = now - heartbeat if heartbeat else None
    future = age is not None and age < -FUTURE_TOLERANCE_MS
    state["held"] = held
    state["checked_at"] = now
    state["heartbeat_age_ms"] = age
    state["heartbeat_future_ms"] = -age if future and age is not None else None
    state["running"] = age is not None and not future and state["status"] != "stopped" and (
        age < HEARTBEAT_STALE_MS or held)
    state["stalled"] = bool(state["running"] and (state["live"] or held) and age is not None
                            and age >= LIVE_STALE_MS)
    state["live"] = bool(state["live"]) and state["running"] and not state["stalled"]
    # A new book's columns say "starting" before any daemon has started; a stalled writer
    # cannot write why it is not live, so the reader says it, as the daemon's metric does.
    never_ran = state["started_at"] is None and state["heartbeat_at"] is None
    state["status"] = NEVER_RAN if never_ran else STATUS_COUNT.sub("", state["status"])
    if never_ran:
        state["not_live_reason"] = "never_started"
    elif future:
        state["not_live_reason"] = "heartbeat_in_future"
    elif state["stalled"]:
        state["not_live_reason"] = "database_unwritable"
    for name in (*TIME_FIELDS, "checked_at"):
        state[f"{name}_iso"] = iso(state[name])
    return state


def feed_path(book: Path) -> Path:
    """Where the daemon announces the book's commits (tracker.sqlite.feed serves it)."""
    return Path(f"{book}.feed")


class Wakeup:
    """A reader's wait for the next commit to an SQLite book: woken by the daemon's change
    feed (`<db>.feed`, one line per commit), or, with no daemon or no feed, by the timeout,
    as a timer would. It says only when to read: what changed is read from the book.

        wakeup = Wakeup(path)
        while True:
            ...read the rows past the last seq seen...
            wakeup.wait(1.0)
    """

    def __init__(self, book: Path) -> None:
        self.path = str(feed_path(book))
        self.sock: socket.socket | None = None

    def wait(self, timeout: float) -> bool:
        """True when a commit was announced within `timeout` seconds (all announced since
        the last wait are taken at once), False when the time ran out."""
        deadline = time.monotonic() + timeout
        if self.sock is None and not self._connect(timeout):
            time.sleep(max(0.0, deadline - time.monotonic()))
            return False
        assert self.sock is not None
        ready, _, _ = select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            # The daemon stopped, or refused this reader (it has as many as it takes): the
            # rest of the wait is a timer's, and the next wait connects again. Returning at
            # once would have the caller read and connect again in a loop.
            self.close()
            time.sleep(max(0.0, deadline - time.monotonic()))
        return bool(data)

    def _connect(self, timeout: float = 1.0) -> bool:
        """Within `timeout`: a daemon flooded with connections may leave none waiting room."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            return False
        self.sock = sock
        return True

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
