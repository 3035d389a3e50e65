"""The heartbeat against clocks that disagree (issue 30, item 3).

A tracker host whose clock ran 60 s fast, killed, left a heartbeat 60 s in the future: its
book looked live and healthy for 60 s more. Readers now catch a heartbeat from the future on
either backend, and the PostgreSQL writer stamps its heartbeat with the server's clock, which
readers compare with, so no tracker's clock can make a book look current.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness import clean_env, run_once
from harness.books import BookUnderTest, PostgresBook, SqliteBook
from harness.postgres import Database, client_env
from tracker import storage
from tracker.batch import Batch
from tracker.postgres.store import PgStore

AHEAD_MS = 60_000
DOC = Path(__file__).resolve().parents[1] / "docs" / "postgres.md"


def tracker(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = run_once(client_env(clean_env()) | (env or {}), *args)
    return done.returncode, done.stdout, done.stderr


def make_book(store: BookUnderTest) -> None:
    """A book made by `tracker migrate`, with the account's row on PostgreSQL."""
    assert tracker("migrate", "--db", store.reader_args()[1], env=store.reader_env())[0] == 0
    if isinstance(store, PostgresBook):
        with psycopg.connect(store.database.url(), autocommit=True) as conn:
            conn.execute("INSERT INTO sync_state (account) VALUES (%s)", (store.account,))


def set_state(store: BookUnderTest, **state: Any) -> None:
    """`sync_state` as a writer whose clock is not the reader's left it, written directly."""
    mark = "?" if isinstance(store, SqliteBook) else "%s"
    sets = ", ".join(f"{k} = {mark}" for k in state)
    if isinstance(store, SqliteBook):
        with sqlite3.connect(store.path) as conn:
            conn.execute(f"UPDATE sync_state SET {sets}", tuple(state.values()))
        return
    assert isinstance(store, PostgresBook)
    with psycopg.connect(store.database.url(), autocommit=True) as conn:
        conn.execute(f"UPDATE sync_state SET {sets} WHERE account = %s",
                     (*state.values(), store.account))


def test_a_heartbeat_from_the_future_is_not_taken_as_current(store: BookUnderTest) -> None:
    """The reader's clock is the one the heartbeat is written with (this host's for SQLite,
    the server's, on this same host, for PostgreSQL): 60 s ahead of it is a writer's clock
    ahead (or one that jumped back), and tells nothing of whether the book is current."""
    make_book(store)
    now = int(time.time() * 1000)
    set_state(store, live=1, status="live", not_live_reason=None, pid=4242,
                started_at=now - 100_000, live_since=now - 90_000,
                heartbeat_at=now + AHEAD_MS)
    code, out, err = tracker("status", "--json", *store.reader_args(), env=store.reader_env())
    state = json.loads(out)
    assert (code, err) == (1, ""), (code, err)
    assert state["live"] is False and state["running"] is False and state["exit_code"] == 1
    assert state["not_live_reason"] == "heartbeat_in_future"
    assert state["heartbeat_future_ms"] == now + AHEAD_MS - state["checked_at"]
    assert AHEAD_MS - 5_000 < state["heartbeat_future_ms"] <= AHEAD_MS
    code, out, _ = tracker("status", *store.reader_args(), env=store.reader_env())
    head = out.splitlines()[0]
    said = re.fullmatch(r"NOT LIVE: heartbeat (\d+) s in the future: the writer's clock is "
                        r"ahead, or this host's is behind", head.replace("1 min 0 s", "60 s"))
    assert code == 1 and said and 50 <= int(said.group(1)) <= 60, head
    code, out, _ = tracker("healthcheck", *store.reader_args(), env=store.reader_env())
    assert code == 1 and out.startswith("unhealthy: heartbeat "), out

    # Within the tolerance (a second) it is the same clock: the book is current.
    set_state(store, heartbeat_at=int(time.time() * 1000) + 500)
    code, out, _ = tracker("healthcheck", *store.reader_args(), env=store.reader_env())
    assert (code, out) == (0, "healthy\n")


def documented_current(url: str, account: str) -> bool:
    """docs/postgres.md's "Is it current?" query, as written there."""
    text = DOC.read_text()
    start = text.index("-- Is it current?")
    sql = text[text.index("\n", start) + 1:text.index(";", start)]
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql.replace("'desk1'", "%s"), (account,)).fetchone()
    assert row is not None
    return bool(row[0])


def test_a_writer_whose_clock_is_ahead_cannot_make_its_book_look_current(
        pg_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's heartbeat is the server's clock, whatever its own says: killed right
    after a commit, a tracker 60 s fast is not current 5 s later, by `tracker status` and
    by the documented SQL alike."""
    ahead = time.time() * 1000 + AHEAD_MS
    monkeypatch.setattr(storage, "now_ms", lambda: int(ahead))  # the writer's clock only

    async def commit_then_die() -> None:
        store = await PgStore.open(pg_database.url(password=False), "fast",
                                   pg_database.password)
        try:
            batch = Batch()
            batch.state.update(live=1, status="live", pid=4242, started_at=int(ahead),
                               live_since=int(ahead), not_live_reason=None)
            await store.commit(batch)
        finally:
            await store.close()

    asyncio.run(commit_then_die())
    with psycopg.connect(pg_database.url(), autocommit=True) as conn:
        row = conn.execute("SELECT heartbeat_at, (extract(epoch FROM clock_timestamp()) * 1000)"
                           "::bigint AS now FROM sync_state WHERE account = 'fast'").fetchone()
    assert row is not None
    heartbeat, now = row
    assert 0 <= now - heartbeat < 5_000, (now, heartbeat)  # the server's time of the commit
    reading = ["--db", pg_database.url(password=False), "--account", "fast"]
    password = {"TRACKER_DB_PASSWORD": pg_database.password}
    assert documented_current(pg_database.url(), "fast")  # just committed: current
    time.sleep(5.5)
    assert not documented_current(pg_database.url(), "fast")
    code, out, _ = tracker("status", "--json", *reading, env=password)
    state = json.loads(out)
    assert code == 1 and state["live"] is False and state["heartbeat_future_ms"] is None
    assert state["not_live_reason"] == "database_unwritable"  # no commit for 5 s
    assert tracker("healthcheck", *reading, env=password)[0] == 1
