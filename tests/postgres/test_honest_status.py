"""What the readers say about an account's trackers and its accounts (issue 30, items 7 and
10): what the server hides from a reader's role said as unknown, a mistyped account refused
rather than read as an empty book, every account's rows marked with whether its book is
current, a tracker given a role that cannot write refused as a configuration mistake, and a
long account that leaves the tracker's pid and host in its connection's name. Real
PostgreSQL, real `tracker` subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psycopg

from harness import CREDENTIALS, FAST, TRACKER, clean_env, eventually, stop_process
from harness.postgres import Database, Postgres, cli_args, client_env
from tests.postgres.test_readers import ACCT1, ACCT2, Watcher, migrated, reading, write
from tracker import formats
from tracker.batch import Batch
from tracker.postgres.store import PgStore

EX_UNAVAILABLE, EX_CANTCREAT, EX_CONFIG = 69, 73, 78
NOWHERE = {"TRACKER_SYMBOLS": "BTC_USDT", "TRACKER_REST_URL": "http://127.0.0.1:9",
           "TRACKER_WS_URL": "ws://127.0.0.1:9/user"}
T = TypeVar("T")


def tracker(*args: str | Database,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    words, environment = cli_args(args, client_env(clean_env()) | (env or {}))
    return subprocess.run([*TRACKER, *words], capture_output=True, text=True, timeout=60,
                          env=environment)


def reader_role(postgres: Postgres, db: Database) -> str:
    """A URL of a role that may read the book and nothing else, as docs/postgres.md's
    `book_reader` (no pg_read_all_stats): made after the book, for its tables."""
    name, password = f"{db.name}_reader", secrets.token_urlsafe(12)
    with postgres.connect(db.name) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        conn.execute(f"GRANT CONNECT ON DATABASE {db.name} TO {name}")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {name}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}")
    return f"postgresql://{name}:{password}@127.0.0.1:{db.port}/{db.name}"


def holding(db: Database, account: str, then: Callable[[], T]) -> T:
    """`then()` while the tracker's writer holds `account` (its first batch committed)."""
    async def run() -> T:
        store = await PgStore.open(db.url(password=False), account, db.password)
        try:
            await store.commit(batch_naming(os.getpid()))
            return await asyncio.to_thread(then)
        finally:
            await store.close()

    return asyncio.run(run())


def batch_naming(pid: int) -> Batch:
    """A batch as a tracker's first: live, naming its pid and its start."""
    batch = Batch()
    batch.state.update(live=1, status="live", pid=pid, started_at=int(time.time() * 1000),
                       not_live_reason=None)
    return batch


# -- item 7: a verdict that agrees with the listing, and what the server hides ---------


def test_a_reader_role_sees_the_trackers_connection_times_as_unknown_not_never(
        postgres: Postgres, pg_database: Database) -> None:
    migrated(pg_database)
    reader = reader_role(postgres, pg_database)

    def read() -> tuple[subprocess.CompletedProcess[str], ...]:
        return (tracker("status", "--db", reader, "--account", "acct1"),
                tracker("status", "--json", "--db", reader, "--account", "acct1"),
                tracker("status", *reading(pg_database, "acct1")))

    text, as_json, owner = holding(pg_database, "acct1", read)
    name = f"tracker acct1 pid {os.getpid()} on {socket.gethostname()}"
    active = [line for line in text.stdout.splitlines() if line.startswith("  active")]
    assert active == [f"  active       {name}, connected since unknown (hidden from this "
                      "role)"], text.stdout
    assert "never" not in active[0]
    (listed,) = json.loads(as_json.stdout)["trackers"]
    assert listed["hidden"] is True and listed["since"] is None and listed["name"] == name
    # The book's owner sees the same tracker's connection time, and its term as the writer.
    (line,) = [x for x in owner.stdout.splitlines() if x.startswith("  active")]
    assert line.startswith(f"  active       {name} from 127.0.0.1/32, connected since 20"), line
    assert ", writing since 20" in line and "unknown" not in line


# -- item 10: accounts ----------------------------------------------------------------


def test_watch_of_an_account_no_tracker_wrote_says_so_once_then_follows_it(
        pg_database: Database, tmp_path: Path) -> None:
    migrated(pg_database)
    write(pg_database, "acct2", ACCT2)
    watcher = Watcher(tmp_path, *reading(pg_database, "acct1"), "--since", "0")
    try:
        said = ("tracker watch: waiting for the book: no tracker has written account 'acct1' "
                f"in {pg_database.url(password=False)} (accounts there: acct2; is the account "
                "mistyped, or has its tracker not started yet?)\n")
        def waiting() -> None:
            assert watcher.err.read_text() == said

        eventually(waiting, 15, "the watcher says what it waits for")
        time.sleep(2)
        write(pg_database, "acct1", ACCT1[:2])
        shown = eventually(lambda: _count(watcher.events(), 2), 20, "acct1's rows once written")
        assert [e["order_id"] for e in shown] == ["900000", "900001"]
        assert watcher.err.read_text() == said  # said once
        assert watcher.stop() == 0
    finally:
        stop_process(watcher.proc)


def _count(events: list[dict[str, object]], n: int) -> list[dict[str, object]]:
    assert len(events) == n, events
    return events


def test_all_accounts_with_an_account_is_refused_in_one_line(pg_database: Database) -> None:
    migrated(pg_database)
    write(pg_database, "acct1", ACCT1)
    done = tracker("orders", "--all-accounts", *reading(pg_database, "acct1"))
    assert (done.returncode, done.stdout) == (EX_CONFIG, "")
    assert done.stderr == ("tracker orders: --all-accounts and --account: give one or the "
                           "other (see: tracker orders --help)\n")
    # An account from the environment or a file is a reader's default, not a choice.
    done = tracker("orders", "--all-accounts", "--db", pg_database,
                   env={"TRACKER_ACCOUNT": "acct1"})
    assert done.returncode == 0, done.stderr


def test_every_accounts_rows_say_whether_its_book_is_live(pg_database: Database) -> None:
    migrated(pg_database)
    write(pg_database, "acct2", ACCT2, live=0, status="stopped", not_live_reason="stopped")

    def read() -> tuple[subprocess.CompletedProcess[str], ...]:
        every = ["--db", pg_database, "--all-accounts"]
        return tuple(tracker("orders", *every, "--format", fmt)
                     for fmt in ("json", "csv", "table"))

    write(pg_database, "acct1", ACCT1)
    as_json, as_csv, table = holding(pg_database, "acct1", read)  # acct1's tracker is live
    rows = json.loads(as_json.stdout)
    assert {(r["account"], r["book_live"]) for r in rows} == {("acct1", True),
                                                             ("acct2", False)}
    for done in (as_json, as_csv, table):
        assert done.returncode == 0
        assert done.stderr == ("tracker: account acct2: NOT LIVE: stopped; its rows may be "
                               "behind the exchange\n"), done.stderr
    assert {tuple(line.split(",")[:2]) for line in as_csv.stdout.splitlines()[1:]} == {
        ("acct1", "true"), ("acct2", "false")}
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["account", "venue", "book", "order_id"]
    assert {(line.split()[0], " ".join(line.split()[2:4]) if line.split()[2] == "NOT"
             else line.split()[2]) for line in lines[1:1 + len(rows)]} == {
        ("acct1", "live"), ("acct2", "NOT LIVE")}
    # No tracker recorded these accounts' markets or venues: the footnotes under the count
    # say why.
    assert lines[1 + len(rows):] == [f"{len(rows)} open orders", formats.UNRECORDED_NOTE,
                                     formats.VENUE_NOTE]


def test_a_role_that_cannot_write_the_book_is_refused_with_73(
        postgres: Postgres, pg_database: Database) -> None:
    """A reader's role given to `tracker run`: a configuration mistake (73, which systemd
    does not retry), not an unavailable database (69, retried for ever)."""
    migrated(pg_database)
    reader = reader_role(postgres, pg_database)
    done = subprocess.run([*TRACKER, "run"], capture_output=True, text=True, timeout=60,
                          env=client_env(clean_env()) | CREDENTIALS | FAST | NOWHERE | {
                              "TRACKER_DB": reader, "TRACKER_ACCOUNT": "acct1"})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == EX_CANTCREAT, done.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("tracker: db: "), done.stderr[-2000:]
    assert "this role lacks write rights on the book: permission denied" in lines[0]
    assert reader.split(":")[2].split("@")[0] not in done.stderr  # no password shown


def test_a_long_account_keeps_the_pid_and_host_in_the_connection_name(
        pg_database: Database) -> None:
    migrated(pg_database)
    account = "desk-" + "x" * 31 + "-long-account-name-of-a-firm"  # 64, the longest
    assert len(account) == 64
    host, pid = socket.gethostname(), os.getpid()

    def named() -> tuple[list[str], str]:
        with psycopg.connect(pg_database.url(), autocommit=True) as conn:
            names = sorted({r[0] for r in conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE application_name "
                "LIKE 'tracker desk-%'")})  # its claim's connection and its writer's
        done = tracker("status", *reading(pg_database, account))
        return names, done.stdout + done.stderr

    (name,), status = holding(pg_database, account, named)
    assert f" pid {pid} on {host[:10]}" in name, name
    assert name.startswith(f"tracker {account[:20]}~") and len(name.encode()) <= 63, name
    # The status listing names the tracker so, and still finds its term as the writer.
    (line,) = [x for x in status.splitlines() if x.startswith("  active")] or [status]
    assert line.startswith(f"  active       {name} from 127.0.0.1/32, connected since ")
    assert "writing since" in line, line
    # The whole account is the book's.
    with psycopg.connect(pg_database.url(), autocommit=True) as conn:
        assert conn.execute("SELECT account FROM sync_state").fetchall() == [(account,)]
