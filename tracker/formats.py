"""How the book is written for people and pipes: the one place where `orders`' table, JSON
and CSV, `status`' text, `watch`'s lines and the demo's words are made.

Pure text from what `tracker.readers` returned, so each command prints the same facts the
same way, and a change of wording is made (and reviewed) once.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from tracker import readers

ORDER_FORMATS = ("table", "json", "csv")
TABLE_COLUMNS = ("order_id", "symbol", "side", "type", "price", "size", "filled_size",
                 "filled_notional", "state")
AMOUNTS = frozenset({"price", "size", "filled_size", "filled_notional"})
# A NULL in the table: a fact the exchange has not given for this order (a seed that does
# not carry it), never a guess such as 0 or "limit".
UNSAID = "-"
UNSAID_NOTE = (f"{UNSAID}: the exchange did not say (the seed that read the order does not "
               "carry it; the order's next push fills it in)")
# A market the book has no row of: its tracker has not read the venue's list of markets
# (it could not, or has not run since the book had them), not a fact the exchange withheld.
UNRECORDED = "unified_symbol"
UNRECORDED_NOTE = (f"{UNSAID} as {UNRECORDED}: the market is not recorded in the book yet "
                   "(its tracker records it at its start and after each seed)")
# An account whose venue is not recorded: no tracker has written it since its book gained
# the column (schema 7); its next tracker's first write records it.
VENUE = "venue"
VENUE_NOTE = (f"{UNSAID} as {VENUE}: the account's venue is not recorded in the book yet "
              "(its next tracker records it as it starts)")
# Rows of many accounts may be of several venues, each writing its symbols its own way:
# each account with its venue, and beside each venue's symbol the market's unified
# `BASE/QUOTE`, by which they compare. One account's rows are of one venue, whose symbols
# are the ones its tracker was given.
ACCOUNTS_COLUMNS = ("account", VENUE, "book", *TABLE_COLUMNS[:2], UNRECORDED,
                    *TABLE_COLUMNS[2:])
# A `-` in these columns is a fact the book has not recorded yet, not one the exchange
# withheld: each has its own footnote.
RECORDED_LATER = {UNRECORDED: UNRECORDED_NOTE, VENUE: VENUE_NOTE}


# -- orders -------------------------------------------------------------------------

def write_orders(rows: list[dict[str, Any]], fmt: str, out: TextIO, *,
                 accounts: bool = False) -> None:
    """`tracker orders --format fmt`: amounts and ids as the text the book holds, exact;
    `accounts`: rows of many accounts, each led by its account and whether that account's
    book is live (`book_live`; the table's `book` says live or NOT LIVE), and ended by the
    account's `venue` (the table shows it beside the account): a CSV read by position
    reads the columns it read before the venue was added."""
    lead, tail = (("account", "book_live"), (VENUE,)) if accounts else ((), ())
    if fmt == "json":
        json.dump(rows, out, indent=1)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=[*lead, *readers.ORDER_FIELDS, *tail])
        writer.writeheader()
        writer.writerows({**r, "book_live": str(r["book_live"]).lower()} if accounts else r
                         for r in rows)
    elif accounts:
        shown = [{**r, "book": "live" if r["book_live"] else "NOT LIVE"} for r in rows]
        out.write(orders_table(shown, ACCOUNTS_COLUMNS) + "\n")
    else:
        out.write(orders_table(rows, TABLE_COLUMNS) + "\n")


def orders_table(rows: Sequence[dict[str, Any]],
                 columns: Sequence[str] = TABLE_COLUMNS) -> str:
    """Aligned columns, amounts to the right; no trailing spaces, so `diff` and `grep`
    see only what changed. A fact the book does not hold is shown as such, with a footnote,
    not as a blank that reads as an empty value."""
    cells = [[UNSAID if r[c] is None else str(r[c]) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)])
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) if c in AMOUNTS else v.ljust(w)
                        for c, v, w in zip(columns, row, widths, strict=True))
              for row in cells]
    lines.append(f"{len(rows)} open orders")
    if any(r[c] is None for r in rows for c in columns if c not in RECORDED_LATER):
        lines.append(UNSAID_NOTE)
    lines += [note for c, note in RECORDED_LATER.items()
              if c in columns and any(r[c] is None for r in rows)]
    return "\n".join(line.rstrip() for line in lines)


# -- status -------------------------------------------------------------------------

def status_text(state: dict[str, Any]) -> str:
    """Times as `systemctl status` shows them: the moment in UTC, then how long ago, by the
    clock the heartbeat is written with (`checked_at`: the server's on PostgreSQL)."""
    now = state["checked_at"]

    def when(ms: int | None) -> str:
        return f"{clock(ms)}; {ago(now - ms)} ago" if ms else "never"

    head = (f"live since {when(state['live_since'])}" if state["live"] else
            f"NOT LIVE: {why_not_live(state)}")
    if state["stalled"]:
        daemon = f"stalled, pid {state['pid']}, last commit {when(state['heartbeat_at'])}"
    elif state["running"]:
        daemon = f"running, pid {state['pid']}, started {when(state['started_at'])}"
    elif state["heartbeat_future_ms"]:
        daemon = f"unknown; last commit stamped {clock(state['heartbeat_at'])}"
    elif state["heartbeat_at"]:
        daemon = f"not running; last commit {when(state['heartbeat_at'])}"
    else:
        daemon = "never started on this book"
    seed = when(state["last_seed_at"])
    if state["last_seed_at"]:
        seed += f" ({state['last_seed_orders']} orders read)"
    venue = state[VENUE] or "not recorded yet (its next tracker records it as it starts)"
    rows = ((VENUE, venue),
            ("open orders", str(state["open_orders"])),
            ("daemon", daemon),
            ("last event", when(state["last_event_at"])),
            ("last seed", seed),
            ("splices", f"{state['splices']} (epoch {state['epoch']}), "
                        f"reconnects {state['reconnects']}"),
            ("events", f"applied {state['applied']}, duplicate {state['duplicate']}, "
                       f"stale {state['stale']}, invalid {state['invalid']}"),
            ("unresolved", str(state["unresolved"])),
            ("book", f"{state['book_id']}, schema {state['schema']}"))
    # A PostgreSQL book's account: the active tracker and its standbys, as the server sees
    # them (an SQLite book has one writer, the daemon above).
    rows += tuple((t["role"], tracker_text(t, when)) for t in state.get("trackers", ()))
    return "\n".join([head, *(f"  {name:<13}{value}" for name, value in rows)])


def tracker_text(tracker: dict[str, Any], when: Callable[[int | None], str]) -> str:
    """One tracker of the account: its name, and since when it is connected, which for a
    standby that took over is when it began waiting; the active's `writing_since` is when
    its term as the writer began (`sync_state.started_at`), where the book names it. The
    server hides another role's address and connection time from a role without
    pg_read_all_stats: `hidden`, said as such, never as "never"."""
    if tracker["hidden"]:
        return f"{tracker['name']}, connected since unknown (hidden from this role)"
    text = (f"{tracker['name']}" + (f" from {tracker['addr']}" if tracker["addr"] else "")
            + f", connected since {when(tracker['since'])}")
    if tracker.get("writing_since"):
        text += f", writing since {when(tracker['writing_since'])}"
    return text


def why_not_live(state: dict[str, Any]) -> str:
    if state["heartbeat_future_ms"]:
        return (f"heartbeat {ago(state['heartbeat_future_ms'])} in the future: the writer's "
                "clock is ahead, or this host's is behind")
    if state["stalled"] and state["held"]:
        what = "the account" if "trackers" in state else "the book"
        return (f"a tracker holds {what} but has not written for "
                f"{ago(state['heartbeat_age_ms'])}: stalled (stopped, frozen or unable to "
                "write)")
    if state["stalled"]:
        return f"no commit for {ago(state['heartbeat_age_ms'])}: writes stalled"
    if state["running"] or state["status"] in ("stopped", readers.NEVER_RAN):
        return str(state["status"])
    # killed, or hung: its last words may still say "live"
    return f"the daemon is not running (its last status: {state['status']})"


def clock(ms: int, *, date: bool = True) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC" if date else "%H:%M:%S UTC",
                         time.gmtime(ms / 1000))


def ago(ms: int, *, fine: bool = False) -> str:
    """A duration in words; `fine` gives tenths below 10 s, for a view that redraws."""
    if fine and ms < 10_000:
        return f"{max(ms, 0) / 1000:.1f} s"
    seconds = max(ms, 0) // 1000
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


# -- the journal (`tracker watch`) --------------------------------------------------

def journal_json(line: dict[str, Any]) -> str:
    return json.dumps(line, separators=(",", ":"))


def journal_text(line: dict[str, Any]) -> str:
    event = line["event"]
    if event == "change":
        ms = line["received_at"]
        at = datetime.fromtimestamp(ms // 1000, UTC).strftime("%H:%M:%S") + f".{ms % 1000:03d}"
        parts = [at, f"seq {line['seq']}", line["symbol"], line["order_id"], line["state"],
                 line["filled_size"] and f"filled {line['filled_size']}",
                 f"{line['outcome']} ({line['source']})", line["reason"]]
        return "  ".join(str(p) for p in parts if p)
    if event == "snapshot":
        parts = ["open", line["symbol"], line["order_id"], line["side"],
                 f"{line['size']} @ {line['price']}", f"filled {line['filled_size']}",
                 line["state"], "unresolved" if line["unresolved"] else None]
        return "  ".join(str(p) for p in parts if p)
    now = f"the book at seq {line['seq']}: {line['open_orders']} open orders"
    if event == "gap":
        end = line["first_seq"] - 1 if line["first_seq"] is not None else line["seq"]
        return (f"-- journal rows {line['last_seq'] + 1} to {end} were deleted by retention "
                f"before they were shown; {now}")
    if event == "ahead":
        return (f"-- seq {line['last_seq']} is past the end of this book (a seq of another "
                f"book?); {now}")
    return (f"-- another book at this path (book_id {line['book_id']}, was "
            f"{line['previous_book_id']}); {now}")
