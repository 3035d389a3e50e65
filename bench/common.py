"""Small helpers the benchmarks share."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg

from harness import ro_connect
from harness.books import BookUnderTest, PostgresBook, SqliteBook
from harness.postgres import Postgres


def poll(check: Callable[[], bool], timeout: float, interval: float) -> int:
    """time.time_ns() at the first check that holds; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.time_ns()
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:g} s")
        time.sleep(interval)


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max, in the values' unit, rounded to 3 places."""
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": round(statistics.median(ordered), 3), "p99": round(p99, 3),
            "max": round(ordered[-1], 3), "n": len(ordered)}


BURST_SYMBOL = "BTC_USDT"  # the ingest burst's one symbol, for the daemon and its peers
ACCOUNT = "bench"  # the account a PostgreSQL book's daemon writes in the benchmarks
CHANNEL = "tracker_book"  # where the PostgreSQL writer announces each committed batch
# A server as one is run for real: every commit waits for its WAL to reach the disk. The
# harness's throwaway clusters turn that off for the tests' speed; a figure measured so
# would be a figure no deployment gets.
DURABLE = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"}


def durable_server() -> tuple[Postgres, dict[str, str]]:
    """A throwaway cluster with DURABLE's settings, and what it says it runs with."""
    server = Postgres.start()
    try:
        with server.connect() as conn:
            for name, value in DURABLE.items():
                conn.execute(f"ALTER SYSTEM SET {name} = {value}")
            conn.execute("SELECT pg_reload_conf()")
            names = ("server_version", *DURABLE)
            shown = {name: str(eventually_shown(conn, name, DURABLE.get(name)))
                     for name in names}
    except BaseException:
        server.stop()
        raise
    return server, shown


def eventually_shown(conn: psycopg.Connection[Any], name: str, wanted: str | None) -> str:
    """SHOW `name`, once the reload has reached this backend (it is asynchronous)."""
    deadline = time.monotonic() + 10
    while True:
        row = conn.execute(f"SHOW {name}").fetchone()
        value = str(row[0]) if row else ""
        if wanted is None or value == wanted or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


class Probe:
    """A reader's connection to a daemon's book, either backend, for the checks behind a
    figure. Queries are written once in SQLite's form with one WHERE; on PostgreSQL the
    account's condition is put in front of it and the placeholders become psycopg's.

    On PostgreSQL it LISTENs from the start, and `until` checks when a commit of the
    account is announced: a reader polling every 2 ms would be one more client taking the
    server's CPU from the writer it measures (SQLite's reads cost no other process)."""

    def __init__(self, store: BookUnderTest) -> None:
        self.account: tuple[str, ...] = ()
        if isinstance(store, PostgresBook):
            self.conn: Any = psycopg.connect(store.database.url(), autocommit=True)
            self.conn.execute(f"LISTEN {CHANNEL}")
            self.account = (store.account,)
        else:
            assert isinstance(store, SqliteBook)
            self.conn = ro_connect(store.path)

    def until(self, check: Callable[[], bool], timeout: float, seq: int = 0) -> int:
        """time.time_ns() at the first check that holds; TimeoutError after `timeout` s.
        SQLite's book is checked every 2 ms; PostgreSQL's once a commit of the account
        announces a journal reaching `seq`, and every half second whatever was announced."""
        if not self.account:
            return poll(check, timeout, 0.002)
        deadline = time.monotonic() + timeout
        checked = time.monotonic()
        while True:
            notes = list(self.conn.notifies(timeout=0.5, stop_after=1))  # releases the conn
            reached = any(said.get("account") == self.account[0] and said.get("seq", 0) >= seq
                          for said in (json.loads(note.payload) for note in notes))
            if reached or time.monotonic() - checked >= 0.5:
                if check():
                    return time.time_ns()
                checked = time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {timeout:g} s")

    def one(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, None when there is no row."""
        if self.account:
            sql = sql.replace("?", "%s").replace(" WHERE ", " WHERE account = %s AND ", 1)
        row = self.conn.execute(sql, (*self.account, *args)).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        self.conn.close()
