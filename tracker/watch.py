"""`tracker watch`: follow the book's journal, as `journalctl -f` follows a log.

For shell pipelines and bots that want changes rather than snapshots. It is only a reader
(read-only, one short transaction per poll, no transaction held open between polls), so the
daemon's restarts and the book's absence are waits, not failures. Both writers announce
every commit, which wakes the watcher: the SQLite daemon on its change feed (`<db>.feed`),
the PostgreSQL writer by NOTIFY for the account; a timed read stands behind either. It
keeps the pair the README tells every tailing reader to keep, (book_id, last seq shown):
when the book at the path turns out to be another one, or retention deleted rows it had not
shown, a seq alone would silently skip changes, so it says so, prints the open orders as
they are now, and follows on from there.
"""

from __future__ import annotations

import argparse
import functools
import os
import select
import signal
import sqlite3
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tracker import config as config_mod
from tracker import formats, readers
from tracker.codec import SYMBOL
from tracker.postgres import readers as pg_readers
from tracker.sqlite import readers as sqlite_readers

POLL_SECONDS = 0.2
BATCH = 1000  # journal rows per read: each read stays short, however far behind it starts
# PostgreSQL: the writer's NOTIFY wakes the watcher; this timed read only bounds how late a
# lost notification makes a change.
PG_FALLBACK_SECONDS = 1.0
PG_RECONNECT_MAX_SECONDS = 5.0  # the longest back-off between two connection attempts


@dataclass
class Step:
    """One poll: the book it read, the lines to print, and the seq they bring it to."""

    book_id: str | None  # None: a PostgreSQL account no tracker has written yet
    last: int
    lines: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False  # a whole batch came: read again at once


class Journal(Protocol):
    """What a poll asks of a book's journal, inside one read transaction, on either
    backend (tracker.postgres.readers.Journal is PostgreSQL's)."""

    def book_id(self) -> str | None: ...

    def bounds(self) -> tuple[int | None, int]:
        """The lowest seq the journal keeps (None: no row) and the highest ever used."""

    def changes(self, last: int, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` journal rows after `last`, each with its order's symbol."""

    def open_orders(self, symbol: str | None) -> list[dict[str, Any]]: ...


@dataclass
class SqliteJournal:
    conn: sqlite3.Connection

    def book_id(self) -> str | None:
        return self.conn.execute("SELECT book_id FROM sync_state WHERE id = 1").fetchone()[0]

    def bounds(self) -> tuple[int | None, int]:
        low, high = self.conn.execute("SELECT MIN(seq), MAX(seq) FROM order_events").fetchone()
        # Retention may have deleted every row; the highest seq ever used outlives them there.
        used = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'order_events'").fetchone()
        return low, max(high or 0, used[0] if used else 0)

    def changes(self, last: int, limit: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT e.*, o.symbol FROM order_events e LEFT JOIN orders o USING (order_id) "
            "WHERE e.seq > ? ORDER BY e.seq LIMIT ?", (last, limit)).fetchall()
        return [dict(r) for r in rows]

    def open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM open_orders", ()
        if symbol is not None:
            sql, args = sql + " WHERE symbol = ?", (symbol,)
        return [dict(o) for o in self.conn.execute(
            sql + " ORDER BY symbol, created_at, order_id", args).fetchall()]


def poll(journal: Journal, kept: str | None, last: int | None, symbol: str | None) -> Step:
    """The lines after `last` in the book `kept` names; `last` None starts from now.

    The caller makes it one read transaction, so a snapshot and the seq it is taken at
    agree: following on from that seq neither repeats nor misses a change.
    """
    book_id = journal.book_id()
    low, high = journal.bounds()
    if last is None:
        return Step(book_id, high)
    if kept is not None and book_id != kept:
        notice = {"event": "book_changed", "book_id": book_id, "previous_book_id": kept,
                  "last_seq": last}
    elif (low if low is not None else high + 1) > last + 1:
        notice = {"event": "gap", "book_id": book_id, "last_seq": last, "first_seq": low}
    else:
        rows = journal.changes(last, BATCH)
        lines = [{"event": "change", **r} for r in rows
                 if symbol is None or r["symbol"] == symbol]
        return Step(book_id, rows[-1]["seq"] if rows else last, lines, len(rows) == BATCH)
    orders = journal.open_orders(symbol)
    notice |= {"seq": high, "open_orders": len(orders)}
    return Step(book_id, high, [notice, *({"event": "snapshot", **o} for o in orders)])


def poll_sqlite(conn: sqlite3.Connection, kept: str | None, last: int | None,
                symbol: str | None) -> Step:
    return poll(SqliteJournal(conn), kept, last, symbol)


def run(args: argparse.Namespace) -> int:
    book = pg_readers.locate(args.config, os.environ, args.db, args.account)
    symbol = args.symbol or None
    if symbol is not None and not SYMBOL.fullmatch(symbol):
        raise config_mod.ConfigError(f"--symbol: {args.symbol!r} is not a BASE_QUOTE symbol "
                                     "(e.g. BTC_USDT)")
    if args.since is not None and args.since < 0:
        raise config_mod.ConfigError(f"--since: a seq >= 0, got {args.since}")
    if isinstance(book, pg_readers.Book):
        pg_readers.driver()  # a missing driver is a mistake to name, not a book to wait for
    render = formats.journal_json if args.format == "json" else formats.journal_text
    # A flag, not an exception: a signal never cuts a line in half, and the poll after it
    # does not start.
    stopping: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    # A pipe's reader that went away (`| head -1`) would otherwise be noticed only at the
    # next change, which may be hours off: the pipe reports it at once as POLLERR.
    pipe = select.poll()
    if stat.S_ISFIFO(os.fstat(sys.stdout.fileno()).st_mode):
        pipe.register(sys.stdout.fileno(), 0)

    def emit(step: Step) -> None:
        if step.lines:
            sys.stdout.write("".join(render(line) + "\n" for line in step.lines))
            sys.stdout.flush()

    # BrokenPipeError ends the command quietly, as for every command.
    if isinstance(book, Path):
        follow_sqlite(book, symbol, args.since, emit, stopping, pipe)
    else:
        follow_postgres(book, symbol, args.since, emit, stopping, pipe)
    return 0


def waiting_for(exc: readers.Unavailable) -> None:
    print(f"tracker watch: waiting for the book: {exc}", file=sys.stderr, flush=True)


def follow_sqlite(path: Path, symbol: str | None, last: int | None,
                  emit: Callable[[Step], None], stopping: list[int],
                  pipe: select.poll) -> None:
    """Woken by the daemon's change feed at each commit, and by a timed read every
    POLL_SECONDS where there is no feed (no daemon running, or an older one)."""
    kept: str | None = None
    waiting = False
    wakeup = readers.Wakeup(path)
    try:
        while not stopping:
            if pipe.poll(0):
                raise BrokenPipeError
            try:
                step = sqlite_readers.read(path, functools.partial(
                    poll_sqlite, kept=kept, last=last, symbol=symbol))
            except readers.Unavailable as exc:
                if not waiting:
                    waiting_for(exc)
                waiting = True
                time.sleep(POLL_SECONDS)
                continue
            waiting = False
            kept, last = step.book_id, step.last
            emit(step)
            if not step.more:
                wakeup.wait(POLL_SECONDS)
    finally:
        wakeup.close()


def follow_postgres(book: pg_readers.Book, symbol: str | None, last: int | None,
                    emit: Callable[[Step], None], stopping: list[int],
                    pipe: select.poll) -> None:
    """Woken by the writer's NOTIFY for this account, and by a timed read every
    PG_FALLBACK_SECONDS; a lost connection is opened again with back-off."""
    kept: str | None = None
    waiting = False
    delay = POLL_SECONDS
    listener: pg_readers.Listener | None = None
    due = True  # a read: at the start, after a wake, and at once after a whole batch

    def interrupted() -> bool:
        return bool(stopping or pipe.poll(0))

    try:
        while not stopping:
            if pipe.poll(0):
                raise BrokenPipeError
            try:
                if listener is None:
                    listener, due = pg_readers.Listener.open(book), True
                if not due:
                    listener.wait(PG_FALLBACK_SECONDS, interrupted)
                    due = True
                    continue  # a signal or a reader gone meanwhile is seen before reading
                step = listener.read(functools.partial(poll, kept=kept, last=last,
                                                       symbol=symbol))
            except readers.Unavailable as exc:
                if listener is not None:
                    listener.close()
                    listener = None
                if not waiting:
                    waiting_for(exc)
                waiting = True
                pause(delay, interrupted)
                delay = min(delay * 2, PG_RECONNECT_MAX_SECONDS)
                continue
            waiting, delay = False, POLL_SECONDS
            kept, last, due = step.book_id, step.last, step.more
            emit(step)
    finally:
        if listener is not None:
            listener.close()


def pause(seconds: float, interrupted: Callable[[], bool]) -> None:
    """`seconds`, cut short by a signal or a reader gone."""
    deadline = time.monotonic() + seconds
    while not interrupted() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(POLL_SECONDS, left))
