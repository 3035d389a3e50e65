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
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracker import backends, formats, readers
from tracker import config as config_mod
from tracker.readers import Journal

POLL_SECONDS = 0.2  # the first pause after a failed read, and how often a pause looks up
BATCH = 1000  # journal rows per read: each read stays short, however far behind it starts
# The largest seq either book can hold (SQLite INTEGER, PostgreSQL bigint): a --since
# past it could never be reached, and SQLite refuses to bind it.
MAX_SEQ = 2**63 - 1


@dataclass
class Step:
    """One poll: the book it read, the lines to print, and the seq they bring it to."""

    book_id: str | None
    last: int
    lines: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False  # a whole batch came: read again at once


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
    elif last > high:
        # A seq this book never reached: one from another book, or from history the
        # database lost. Waiting for the book to reach it would skip every change until
        # then, in silence.
        notice = {"event": "ahead", "book_id": book_id, "last_seq": last}
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


def run(args: argparse.Namespace) -> int:
    book = backends.locate(args.config, os.environ, args.db, args.account)
    symbol = args.symbol or None
    if symbol is not None:
        config_mod.check_symbol("--symbol", symbol)
    if args.since is not None and not 0 <= args.since <= MAX_SEQ:
        raise config_mod.ConfigError(f"--since: a seq from 0 to {MAX_SEQ}, got {args.since}")
    follower = book.follower()
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
    follow(follower, symbol, args.since, emit, stopping, pipe)
    return 0


def waiting_for(exc: readers.Unavailable) -> None:
    print(f"tracker watch: waiting for the book: {exc}", file=sys.stderr, flush=True)


def follow(follower: backends.Follower, symbol: str | None, last: int | None,
           emit: Callable[[Step], None], stopping: list[int], pipe: select.poll) -> None:
    """Read, emit, and wait for the writer's next commit (or the backend's timer); a book
    that cannot be read is tried again with back-off, up to the follower's retry_max."""
    kept: str | None = None
    waiting = False
    delay = POLL_SECONDS
    due = True  # a read: at the start, after a wake, and at once after a whole batch

    def interrupted() -> bool:
        return bool(stopping or pipe.poll(0))

    try:
        while not stopping:
            if pipe.poll(0):
                raise BrokenPipeError
            try:
                if not due:
                    follower.wait(interrupted)
                    due = True
                    continue  # a signal or a reader gone meanwhile is seen before reading
                step = follower.read(functools.partial(poll, kept=kept, last=last,
                                                       symbol=symbol))
            except readers.Unavailable as exc:
                follower.close()
                due = True
                if not waiting:
                    waiting_for(exc)
                waiting = True
                pause(delay, interrupted)
                delay = min(delay * 2, follower.retry_max)
                continue
            waiting, delay = False, POLL_SECONDS
            kept, last, due = step.book_id, step.last, step.more
            emit(step)
    finally:
        follower.close()


def pause(seconds: float, interrupted: Callable[[], bool]) -> None:
    """`seconds`, cut short by a signal or a reader gone."""
    deadline = time.monotonic() + seconds
    while not interrupted() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(POLL_SECONDS, left))
