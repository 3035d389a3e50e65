"""`tracker watch`: follow the book's journal, as `journalctl -f` follows a log.

For shell pipelines and bots that want changes rather than snapshots. It is only a reader
(read-only, one short transaction per poll, nothing held open between polls), so the
daemon's restarts and the book's absence are waits, not failures. It keeps the pair the
README tells every tailing reader to keep, (book_id, last seq shown): when the book at the
path turns out to be another one, or retention deleted rows it had not shown, a seq alone
would silently skip changes, so it says so, prints the open orders as they are now, and
follows on from there.
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
from dataclasses import dataclass, field
from typing import Any

from tracker import config as config_mod
from tracker import formats, readers
from tracker.codec import SYMBOL

POLL_SECONDS = 0.2
BATCH = 1000  # journal rows per read: each read stays short, however far behind it starts


@dataclass
class Step:
    """One poll: the book it read, the lines to print, and the seq they bring it to."""

    book_id: str
    last: int
    lines: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False  # a whole batch came: read again at once


def poll(conn: sqlite3.Connection, kept: str | None, last: int | None,
         symbol: str | None) -> Step:
    """The lines after `last` in the book `kept` names; `last` None starts from now.

    `readers.read` makes it one read transaction, so a snapshot and the seq it is taken at
    agree: following on from that seq neither repeats nor misses a change.
    """
    book_id = conn.execute("SELECT book_id FROM sync_state WHERE id = 1").fetchone()[0]
    low, high = conn.execute("SELECT MIN(seq), MAX(seq) FROM order_events").fetchone()
    # Retention may have deleted every row; the highest seq ever used outlives them there.
    used = conn.execute(
        "SELECT seq FROM sqlite_sequence WHERE name = 'order_events'").fetchone()
    high = max(high or 0, used[0] if used else 0)
    if last is None:
        return Step(book_id, high)
    if kept is not None and book_id != kept:
        notice = {"event": "book_changed", "book_id": book_id, "previous_book_id": kept,
                  "last_seq": last}
    elif (low if low is not None else high + 1) > last + 1:
        notice = {"event": "gap", "book_id": book_id, "last_seq": last, "first_seq": low}
    else:
        rows = conn.execute(
            "SELECT e.*, o.symbol FROM order_events e LEFT JOIN orders o USING (order_id) "
            "WHERE e.seq > ? ORDER BY e.seq LIMIT ?", (last, BATCH)).fetchall()
        lines = [{"event": "change", **dict(r)} for r in rows
                 if symbol is None or r["symbol"] == symbol]
        return Step(book_id, rows[-1]["seq"] if rows else last, lines, len(rows) == BATCH)
    sql, args = "SELECT * FROM open_orders", ()
    if symbol is not None:
        sql, args = sql + " WHERE symbol = ?", (symbol,)
    orders = conn.execute(sql + " ORDER BY symbol, created_at, order_id", args).fetchall()
    notice |= {"seq": high, "open_orders": len(orders)}
    return Step(book_id, high, [notice, *({"event": "snapshot", **dict(o)} for o in orders)])


def run(args: argparse.Namespace) -> int:
    path = config_mod.db_path(args.config, os.environ, args.db)
    symbol = args.symbol or None
    if symbol is not None and not SYMBOL.fullmatch(symbol):
        raise config_mod.ConfigError(f"--symbol: {args.symbol!r} is not a BASE_QUOTE symbol "
                                     "(e.g. BTC_USDT)")
    if args.since is not None and args.since < 0:
        raise config_mod.ConfigError(f"--since: a seq >= 0, got {args.since}")
    render = formats.journal_json if args.format == "json" else formats.journal_text
    # A flag, not an exception: a signal never cuts a line in half, and the poll after it
    # does not start.
    stopping: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    kept: str | None = None
    last: int | None = args.since
    waiting = False
    # A pipe's reader that went away (`| head -1`) would otherwise be noticed only at the
    # next change, which may be hours off: the pipe reports it at once as POLLERR.
    pipe = select.poll()
    if stat.S_ISFIFO(os.fstat(sys.stdout.fileno()).st_mode):
        pipe.register(sys.stdout.fileno(), 0)
    # BrokenPipeError ends the command quietly, as for every command.
    while not stopping:
        if pipe.poll(0):
            raise BrokenPipeError
        try:
            step = readers.read(path, functools.partial(poll, kept=kept, last=last,
                                                        symbol=symbol))
        except readers.Unavailable as exc:
            if not waiting:
                print(f"tracker watch: waiting for the book: {exc}", file=sys.stderr,
                      flush=True)
            waiting = True
            time.sleep(POLL_SECONDS)
            continue
        waiting = False
        kept, last = step.book_id, step.last
        if step.lines:
            sys.stdout.write("".join(render(line) + "\n" for line in step.lines))
            sys.stdout.flush()
        if not step.more:
            time.sleep(POLL_SECONDS)
    return 0
