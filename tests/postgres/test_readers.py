"""The read-only commands on a PostgreSQL book: `tracker orders|status|healthcheck|watch
--db postgresql://... --account NAME`, the installed script as a subprocess, against the
session's throwaway PostgreSQL 15 cluster (harness/postgres.py). The book is written by the
tracker's own writer (tracker.postgres.store), or by a real daemon fed by the simulator.

One database holds two accounts throughout, so a reader that forgot the account column
shows the other account's rows and fails here.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness import Lab, clean_env, eventually, stop_process
from harness.books import PostgresBook
from harness.docs import documented
from harness.postgres import Database, Postgres, cli_args, client_env, free_port
from tracker import formats, migrate
from tracker.batch import Batch
from tracker.book import Outcome
from tracker.codec import OrderUpdate
from tracker.postgres import migrate as pg_migrate
from tracker.postgres import readers as pg_readers
from tracker.postgres.store import PgStore
from tracker.readers import ORDER_FIELDS
from tracker.sqlite.store import Store

TRACKER = str(Path(sys.executable).parent / "tracker")  # the console script pip installed
EX_CONFIG, EX_UNAVAILABLE = 78, 69
LATEST = migrate.load(pg_migrate.directory())[-1][0]
NO_ACCOUNT = ("account: missing; a PostgreSQL book is shared by accounts: set account (in "
              "the file, TRACKER_ACCOUNT or --account)")
# `tracker watch` with its timed read turned off: whatever it prints after its first read,
# a notification woke it to read.
NOTIFIED_ONLY = ("import sys; from tracker import cli; from tracker.postgres import readers; "
                 "readers.FALLBACK_SECONDS = 3600.0; sys.exit(cli.main(sys.argv[1:]))")
# The tracker as `python -c` runs it where psycopg is not installed.
NO_DRIVER = ("import sys; sys.modules['psycopg'] = None; from tracker import cli; "
             "sys.exit(cli.main(sys.argv[1:]))")


def env(**extra: str) -> dict[str, str]:
    return client_env(clean_env()) | extra


def tracker(*args: str | Database, **extra: str) -> subprocess.CompletedProcess[str]:
    words, environment = cli_args(args, env(**extra))
    return subprocess.run([TRACKER, *words], capture_output=True, text=True, timeout=60,
                          env=environment)


def until(holds: Callable[[], bool], what: str, *, timeout: float = 15,
          context: Callable[[], str] | None = None) -> None:
    """`eventually` for a condition that is true or false."""
    def check() -> None:
        assert holds(), what

    eventually(check, timeout, what, context=context)


def reading(db: Database, account: str) -> list[str | Database]:
    return ["--db", db, "--account", account]


def order(n: int, symbol: str, *, state: str = "new", price: str = "60000.5",
          created: int | None = 0) -> OrderUpdate:
    partial = state == "partially_filled"
    return OrderUpdate(order_id=f"{900000 + n}", symbol=symbol, side="buy" if n % 2 else "sell",
                       state=state, price=Decimal(price), size=Decimal("0.25"),
                       filled_size=Decimal("0.10000000") if partial else Decimal("0"),
                       filled_notional=Decimal("6000.05") if partial else Decimal("0"),
                       source="push", type="limit", client_order_id=f"c{n}",
                       create_time=None if created is None else 1764590000000 + n + created)


def batch_of(take_seq: Any, orders: list[OrderUpdate], state: dict[str, Any],
             markets: tuple[tuple[str, str, str, str], ...] = ()) -> Batch:
    batch = Batch(markets=list(markets))
    for row in orders:
        seq = take_seq()
        batch.journal(seq, 1, "push", Outcome.APPLIED, row)
        batch.order(row, seq, unresolved=False)
    batch.state.update(state)
    return batch


def write(db: Database, account: str, orders: list[OrderUpdate],
          markets: tuple[tuple[str, str, str, str], ...] = (), **state: Any) -> None:
    """One batch of `account`, committed by the tracker's PostgreSQL writer (which NOTIFYs
    once for it); the password as the daemon gets it, beside the URL."""
    async def commit() -> None:
        store = await PgStore.open(db.url(password=False), account, db.password)
        try:
            await store.commit(batch_of(store.take_seq, orders, state, markets))
        finally:
            await store.close()

    asyncio.run(commit())


def write_sqlite(path: Path, orders: list[OrderUpdate], **state: Any) -> None:
    async def commit() -> None:
        store = await Store.open(path)
        try:
            await store.commit(batch_of(store.take_seq, orders, state))
        finally:
            await store.close()

    asyncio.run(commit())


def migrated(db: Database) -> Database:
    done = tracker("migrate", "--db", db)
    assert done.returncode == 0, done.stderr
    return db


@pytest.fixture
def book(pg_database: Database) -> Database:
    return migrated(pg_database)


# Account acct1's orders: open on two symbols, one partially filled, one without a creation
# time (sorted first, as SQLite sorts NULL), and one filled (not open). acct2 reuses two of
# the same order ids on other symbols, and holds a symbol acct1 never did.
ACCT1 = [order(0, "BTC_USDT"), order(1, "ETH_USDT", state="partially_filled"),
         order(2, "BTC_USDT", created=None), order(3, "BTC_USDT", state="filled"),
         order(4, "ETH_USDT", price="0.00000010")]
ACCT2 = [order(0, "SOL_USDT", price="150"), order(1, "BMX_ETH", price="0.0001"),
         order(7, "SOL_USDT", price="151")]


# -- orders -----------------------------------------------------------------------------


def test_orders_of_one_account_are_printed_as_the_same_book_in_sqlite_prints_them(
        book: Database, tmp_path: Path) -> None:
    write(book, "acct1", ACCT1, live=0, status="stopped")
    write(book, "acct2", ACCT2, live=0, status="stopped")
    lite = tmp_path / "orders.db"
    write_sqlite(lite, ACCT1, live=0, status="stopped")
    for args in (["--format", "table"], ["--format", "json"], ["--format", "csv"],
                 ["--format", "json", "--symbol", "eth_usdt"]):
        pg = tracker("orders", *reading(book, "acct1"), *args)
        sqlite = tracker("orders", "--db", str(lite), *args)
        assert (pg.returncode, pg.stderr) == (0, ""), pg.stderr
        assert pg.stdout == sqlite.stdout, args
    rows = json.loads(tracker("orders", *reading(book, "acct1"), "--format", "json").stdout)
    assert [r["order_id"] for r in rows] == ["900002", "900000", "900001", "900004"]
    assert rows[3]["price"] == "0.00000010" and rows[2]["filled_size"] == "0.10000000"

    other = json.loads(tracker("orders", *reading(book, "acct2"), "--format", "json").stdout)
    assert [(r["order_id"], r["symbol"]) for r in other] == [
        ("900001", "BMX_ETH"), ("900000", "SOL_USDT"), ("900007", "SOL_USDT")]

    # SOL_USDT is acct2's: for acct1 it is a symbol its book never held.
    unseen = tracker("orders", *reading(book, "acct1"), "--symbol", "sol_usdt")
    assert (unseen.returncode, unseen.stdout) == (0, "order_id  symbol  side  type  price  size  "
                                                     "filled_size  filled_notional  state\n"
                                                     "0 open orders\n")
    assert unseen.stderr == ("tracker: the book has never held an order of SOL_USDT (is it "
                             "one of the daemon's symbols?)\n")
    never = tracker("orders", *reading(book, "acct2"), "--symbol", "btc_usdt")
    assert "never held an order of BTC_USDT" in never.stderr
    write(book, "acct2", [order(8, "BTC_USDT", state="canceled")])
    canceled = tracker("orders", *reading(book, "acct2"), "--symbol", "btc_usdt")
    assert canceled.stdout.endswith("\n0 open orders\n") and canceled.stderr == ""


# -- status and healthcheck -------------------------------------------------------------


def test_an_account_no_tracker_has_written_is_an_unavailable_book_that_names_the_others(
        book: Database, tmp_path: Path) -> None:
    """A mistyped account read as an empty book ("0 open orders", exit 0): it is refused as
    a missing SQLite file is (69, one line), naming the accounts there."""
    write(book, "acct2", ACCT2, live=1, status="live")  # another account's row and orders
    write(book, "acct3", [], live=0, status="stopped")
    said = (f"tracker: no tracker has written account 'acct1' in {book.url(password=False)} "
            "(accounts there: acct2, acct3; is the account mistyped, or has its tracker not "
            "started yet?)\n")
    for command in (["orders"], ["orders", "--format", "json"], ["status"]):
        done = tracker(*command, *reading(book, "acct1"))
        assert (done.returncode, done.stdout, done.stderr) == (EX_UNAVAILABLE, "", said)
    done = tracker("status", "--json", *reading(book, "acct1"))
    assert done.returncode == EX_UNAVAILABLE and done.stderr == said
    assert json.loads(done.stdout) == {"error": said[len("tracker: "):-1],
                                       "exit_code": EX_UNAVAILABLE}
    health = tracker("healthcheck", *reading(book, "acct1"))
    assert (health.returncode, health.stdout) == (1, "")
    assert health.stderr == f"unhealthy: {said[len('tracker: '):]}"

    # A written account's status has SQLite's fields, with the account and its trackers.
    lite = tmp_path / "orders.db"
    assert tracker("migrate", "--db", str(lite)).returncode == 0
    sqlite = json.loads(tracker("status", "--json", "--db", str(lite)).stdout)
    state = json.loads(tracker("status", "--json", *reading(book, "acct3")).stdout)
    assert [k for k in state if k not in ("account", "trackers")] == list(sqlite)
    assert state["account"] == "acct3" and state["trackers"] == []
    assert state["status"] == "stopped" and state["open_orders"] == 0
    assert state["schema"] == LATEST


def test_status_and_healthcheck_of_a_running_then_stopped_daemon(
        lab: Lab, pg_database: Database) -> None:
    store = PostgresBook(migrated(pg_database), "acct1")
    write(pg_database, "acct2", ACCT2, live=1, status="live")
    sim = lab.sim("--open-orders", "30", "--seed", "43")
    daemon = lab.daemon(sim, store=store).start()
    view = daemon.wait_live()

    code, state = daemon.status()  # `tracker status --json` with the book's reader_args
    assert code == 0 and state["exit_code"] == 0, state
    assert state["live"] is True and state["running"] is True and state["stalled"] is False
    assert state["account"] == "acct1" and state["status"] == "live"
    assert state["book_id"] == view.state["book_id"] and state["pid"] == daemon.pid
    assert state["open_orders"] == 90 == len(view.open_ids)  # 30 on each of three symbols
    assert state["schema"] == LATEST and state["live_since_iso"].endswith("Z")
    health = tracker("healthcheck", *store.reader_args(), **store.reader_env())
    assert (health.returncode, health.stdout) == (0, "healthy\n")
    text = tracker("status", *store.reader_args(), **store.reader_env()).stdout.splitlines()
    assert text[0].startswith("live since ") and "  open orders  90" in text, text

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(15) == 0, daemon.tail()
    code, state = daemon.status()
    assert code == 3 and state["running"] is False and state["live"] is False
    assert state["status"] == "stopped" and state["not_live_reason"] == "stopped"
    health = tracker("healthcheck", *store.reader_args(), **store.reader_env())
    assert (health.returncode, health.stdout) == (1, "unhealthy: stopped\n")


# -- settings, passwords, an unreachable server ---------------------------------------


def test_a_url_without_an_account_is_one_line_and_78(book: Database) -> None:
    for command in (["orders"], ["status"], ["watch"]):
        done = tracker(*command, "--db", book)
        assert (done.returncode, done.stdout) == (EX_CONFIG, "")
        assert done.stderr == f"tracker: configuration error: {NO_ACCOUNT}\n"
    done = tracker("status", "--json", "--db", book)
    assert done.returncode == EX_CONFIG
    assert json.loads(done.stdout) == {"error": f"configuration error: {NO_ACCOUNT}",
                                       "exit_code": EX_CONFIG}
    health = tracker("healthcheck", "--db", book)
    assert (health.returncode, health.stderr) == (1, f"unhealthy: {NO_ACCOUNT}\n")
    bad = tracker("orders", "--db", book, "--account", "no spaces")
    assert bad.returncode == EX_CONFIG and "account (from --account)" in bad.stderr
    # An account is one of a PostgreSQL book's: beside an SQLite file it is a mistake.
    lite = tracker("orders", "--db", "orders.db", "--account", "acct1")
    assert lite.returncode == EX_CONFIG and "db is an SQLite file" in lite.stderr


def test_the_url_and_account_come_from_the_file_or_the_environment_too(
        book: Database, tmp_path: Path) -> None:
    write(book, "acct1", ACCT1)
    secret = tmp_path / "db_password"
    secret.write_text(book.password + "\n")
    toml = tmp_path / "tracker.toml"
    toml.write_text(f'db = "{book.url(password=False)}"\naccount = "acct1"\n')
    expected = tracker("orders", *reading(book, "acct1"), "--format", "csv").stdout
    assert expected.count("\n") == 5  # the header and acct1's four open orders
    for args, extra in (
            (["--config", str(toml)], {"TRACKER_DB_PASSWORD_FILE": str(secret)}),
            ([], {"TRACKER_CONFIG": str(toml), "TRACKER_DB_PASSWORD": book.password}),
            ([], {"TRACKER_DB": book.url(password=False), "TRACKER_ACCOUNT": "acct1",
                  "PGPASSWORD": book.password}),
            ([], {"CREDENTIALS_DIRECTORY": str(tmp_path), "TRACKER_CONFIG": str(toml)})):
        done = tracker("orders", *args, "--format", "csv", **extra)
        assert (done.returncode, done.stderr, done.stdout) == (0, "", expected), extra


def test_a_wrong_password_is_unavailable_and_never_shown(book: Database) -> None:
    wrong = "Wr0ng-pass-7391"
    in_url = book.url(password=False).replace(f"{book.name}@", f"{book.name}:{wrong}@")
    for args, extra in ((["--db", in_url], {}),
                        (["--db", book.url(password=False)], {"TRACKER_DB_PASSWORD": wrong})):
        shown = book.url(password=False)
        for command, code in ((["status"], EX_UNAVAILABLE), (["status", "--json"],
                                                             EX_UNAVAILABLE),
                              (["orders"], EX_UNAVAILABLE), (["healthcheck"], 1)):
            done = tracker(*command, *args, "--account", "acct1", **extra)
            assert done.returncode == code, (command, done.stderr)
            assert wrong not in done.stdout + done.stderr
            assert book.password not in done.stdout + done.stderr
            assert f"cannot connect to {shown}: " in done.stdout + done.stderr
            assert "password authentication failed" in done.stdout + done.stderr
            # A password in argv is warned of (the URL case), then the one line of the error.
            assert len(done.stderr.splitlines()) == (2 if args[1] == in_url else 1), done.stderr


def test_an_unreachable_server_is_an_unreadable_book(book: Database, tmp_path: Path) -> None:
    url = f"postgresql://{book.name}@127.0.0.1:{free_port()}/{book.name}"
    shown = pg_migrate.shown(url)
    password = {"TRACKER_DB_PASSWORD": book.password}
    status = tracker("status", "--json", "--db", url, "--account", "acct1", **password)
    assert status.returncode == EX_UNAVAILABLE
    error = json.loads(status.stdout)
    assert error["exit_code"] == EX_UNAVAILABLE
    assert error["error"].startswith(f"cannot connect to {shown}: ")
    assert status.stderr == f"tracker: {error['error']}\n"
    orders = tracker("orders", "--db", url, "--account", "acct1", **password)
    assert (orders.returncode, orders.stderr) == (EX_UNAVAILABLE, status.stderr)
    health = tracker("healthcheck", "--db", url, "--account", "acct1", **password)
    assert (health.returncode, health.stderr) == (1, f"unhealthy: {error['error']}\n")
    for done in (status, orders, health):
        assert book.password not in done.stdout + done.stderr

    watcher = Watcher(tmp_path, "--db", url, "--account", "acct1")
    try:
        until(lambda: watcher.err.read_text() == (
            f"tracker watch: waiting for the book: {error['error']}\n"),
            "the watcher says once that it waits", context=watcher.err.read_text)
        assert watcher.stop() == 0
        assert watcher.err.read_text().count("waiting for the book") == 1
        assert watcher.out.read_text() == ""
    finally:
        stop_process(watcher.proc)


def test_without_the_driver_every_reader_says_what_migrate_says(book: Database) -> None:
    def run(*args: str | Database) -> subprocess.CompletedProcess[str]:
        words, environment = cli_args(args, env())
        return subprocess.run([sys.executable, "-c", NO_DRIVER, *words], capture_output=True,
                              text=True, timeout=60, env=environment)

    said = run("migrate", "--db", book)
    assert said.returncode == EX_CONFIG and "pip install" in said.stderr, said.stderr
    for command in (["orders"], ["status"], ["watch"]):
        done = run(*command, *reading(book, "acct1"))
        assert (done.returncode, done.stderr) == (EX_CONFIG, said.stderr), command
    health = run("healthcheck", *reading(book, "acct1"))
    assert (health.returncode, health.stderr) == (
        1, said.stderr.replace("tracker: ", "unhealthy: ", 1))
    # An SQLite book needs no driver.
    lite = run("orders", "--db", "/nonexistent/orders.db")
    assert lite.returncode == EX_UNAVAILABLE and "no book at" in lite.stderr


# -- one read, one transaction ----------------------------------------------------------


def test_a_read_is_one_read_only_repeatable_read_transaction_then_closed(
        book: Database) -> None:
    write(book, "acct1", ACCT1)
    target = pg_readers.AccountBook(book.url(password=False), "acct1", book.password)
    connections: list[psycopg.Connection[Any]] = []

    def twice(conn: psycopg.Connection[dict[str, Any]]) -> tuple[Any, ...]:
        connections.append(conn)
        count = "SELECT count(*) AS n FROM open_orders WHERE account = 'acct1'"
        first = conn.execute(count).fetchone()
        write(book, "acct1", [order(20, "BTC_USDT")])  # a commit between the two statements
        settings = conn.execute("SELECT current_setting('transaction_isolation') AS iso, "
                                "current_setting('transaction_read_only') AS ro").fetchone()
        assert first is not None and settings is not None
        return first["n"], conn.execute(count).fetchone()["n"], settings["iso"], settings["ro"]

    assert pg_readers.read(target, twice) == (4, 4, "repeatable read", "on")
    assert connections[0].closed
    assert pg_readers.status(target)["open_orders"] == 5  # the next read sees the commit


def test_a_database_without_the_book_is_unavailable(pg_database: Database) -> None:
    done = tracker("status", *reading(pg_database, "acct1"))
    assert done.returncode == EX_UNAVAILABLE
    assert done.stderr == (f"tracker: no book in {pg_database.url(password=False)} (is the "
                           "daemon configured with this db? `tracker migrate` makes one)\n")


# -- watch ------------------------------------------------------------------------------


class Watcher:
    """`tracker watch` as its own process, writing to a file as it would into a pipe;
    `notified_only` turns its timed read off."""

    def __init__(self, workdir: Path, *args: str | Database, notified_only: bool = False,
                 name: str = "watch") -> None:
        self.out = workdir / f"{name}.out"
        self.err = workdir / f"{name}.err"
        argv = ([sys.executable, "-c", NOTIFIED_ONLY] if notified_only else [TRACKER])
        with self.out.open("wb") as out, self.err.open("wb") as err:
            words, environment = cli_args(args, env())
            self.proc = subprocess.Popen([*argv, "watch", *words], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, env=environment)

    def events(self) -> list[dict[str, Any]]:
        text = self.out.read_text()
        return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines()]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(10)


def changes(store: PostgresBook, after: int = 0) -> list[dict[str, Any]]:
    """The account's journal after `after` as `tracker watch` prints it: each row with its
    order's symbol (the account's order of that id), without the account column."""
    symbols = {o["order_id"]: o["symbol"] for o in store.read().orders.values()}
    return [{"event": "change", **{k: v for k, v in row.items() if k != "account"},
             "symbol": symbols.get(row["order_id"])}
            for row in store.journal() if row["seq"] > after]


def test_watch_prints_its_accounts_changes_as_notified_and_says_when_its_book_changed(
        postgres: Postgres, book: Database, tmp_path: Path) -> None:
    acct1, acct2 = PostgresBook(book, "acct1"), PostgresBook(book, "acct2")
    write(book, "acct1", ACCT1[:3])
    write(book, "acct2", ACCT2[:2])
    args = reading(acct1.database, acct1.account)
    watcher = Watcher(tmp_path, *args, "--since", "0", notified_only=True)
    table = Watcher(tmp_path, *args, "--format", "table", "--since", "0",
                    notified_only=True, name="table")
    try:
        def shown(count: int) -> list[dict[str, Any]]:
            events = watcher.events()
            assert len(events) == count, events
            return events

        first = eventually(lambda: shown(3), 15, "the journal so far")
        assert first == changes(acct1)
        assert [e["symbol"] for e in first] == ["BTC_USDT", "ETH_USDT", "BTC_USDT"]

        # The other account's commits are not this watcher's; its own wake it (its timed
        # read is off: nothing else could).
        write(book, "acct2", [order(2, "SOL_USDT"), order(9, "SOL_USDT")])
        write(book, "acct1", ACCT1[3:])
        eventually(lambda: shown(5), 15, "acct1's new batch, as it is committed")
        assert watcher.events() == changes(acct1)
        assert len(acct2.journal()) == 4  # 900009 is acct2's only
        assert "900009" not in {e["order_id"] for e in watcher.events()}
        assert {e["symbol"] for e in watcher.events()} == {"BTC_USDT", "ETH_USDT"}

        # Another book under the same account: the watcher says so and prints the account's
        # open orders as they are, then goes on from there.
        before = acct1.read().state["book_id"]
        with psycopg.connect(book.url(), autocommit=True) as conn:
            conn.execute("UPDATE sync_state SET book_id = %s WHERE account = 'acct1'",
                         ("ab" * 16,))
        write(book, "acct1", [order(10, "ETH_USDT")])
        high = acct1.journal()[-1]["seq"]
        view = acct1.read()
        notice, *snapshot = eventually(lambda: shown(6 + len(view.open_ids))[5:], 15,
                                       "the book_changed notice and the snapshot")
        assert notice == {"event": "book_changed", "book_id": "ab" * 16,
                          "previous_book_id": before, "last_seq": 5, "seq": high,
                          "open_orders": len(view.open_ids)}
        assert {o["order_id"] for o in snapshot} == view.open_ids
        assert all(o["event"] == "snapshot" for o in snapshot)
        assert {o["order_id"]: o["symbol"] for o in snapshot} == {
            oid: view.orders[oid]["symbol"] for oid in view.open_ids}
        write(book, "acct1", [order(11, "BTC_USDT")])
        after = eventually(lambda: shown(7 + len(view.open_ids))[-1], 15, "the change after")
        assert after == changes(acct1, high)[0] and after["seq"] == high + 1

        # A lost connection: one line while it waits, then it goes on where it was.
        with postgres.connect(book.name) as admin:  # both watchers' connections
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "datname = current_database() AND application_name = 'tracker'")
        lost = ("tracker watch: waiting for the book: lost the connection to "
                f"{book.url(password=False)}: ")
        for w in (watcher, table):
            until(lambda w=w: w.err.read_text().startswith(lost),
                  "the watcher says it lost the connection", context=w.err.read_text)
        write(book, "acct1", [order(12, "ETH_USDT")])
        until(lambda: shown(8 + len(view.open_ids))[-1]["seq"] == high + 2,
              "the change after the reconnect")
        until(lambda: table.out.read_text().count("\n") == 8 + len(view.open_ids),
              "the table watcher too")
        for w in (watcher, table):
            assert len(w.err.read_text().splitlines()) == 1, w.err.read_text()
            assert book.password not in w.err.read_text()

        lines = table.out.read_text().splitlines()
        assert lines[5].startswith(f"-- another book at this path (book_id {'ab' * 16}, was "
                                   f"{before}); the book at seq {high}: ")
        assert [w.stop() for w in (watcher, table)] == [0, 0]
    finally:
        for w in (watcher, table):
            stop_process(w.proc)


def test_watch_waits_for_the_book_then_follows_a_running_daemon(
        lab: Lab, pg_database: Database) -> None:
    store = PostgresBook(pg_database, "acct1")
    watcher = Watcher(lab.workdir, *reading(store.database, store.account), "--since", "0",
                      notified_only=True)
    try:
        until(lambda: watcher.err.read_text().startswith(
            f"tracker watch: waiting for the book: no book in {pg_database.url(password=False)}"),
            "the watcher waits for a book", context=watcher.err.read_text)
        migrated(pg_database)
        write(pg_database, "acct2", ACCT2)
        sim = lab.sim("--open-orders", "10", "--rate", "30", "--seed", "47")
        daemon = lab.daemon(sim, store=store).start()
        daemon.wait_live()
        until(lambda: len(store.journal()) > 80, "order flow journaled", timeout=20)
        sim.flow(0)
        daemon.wait_converged(sim)
        rows = changes(store)

        def caught_up() -> None:
            printed = watcher.events()
            assert [e["seq"] for e in printed] == [r["seq"] for r in rows], (
                len(printed), len(rows))
            assert printed == rows

        eventually(caught_up, 20, "the watcher prints the whole journal",
                   context=watcher.err.read_text)
        assert rows[0]["seq"] == 1 and len(rows) == rows[-1]["seq"], "the journal has holes"
        assert watcher.err.read_text().count("\n") == 1  # waited once, said once
        assert watcher.stop() == 0
    finally:
        stop_process(watcher.proc)


def test_orders_of_every_account_in_one_read(book: Database, tmp_path: Path) -> None:
    """The firm-wide view: every account's open orders, each row led by its account and
    ended by its venue, in account order; what one account's view shows is that account's
    part of it. An account whose venue no tracker has recorded says so."""
    write(book, "acct2", ACCT2)  # as a book from before schema 7 leaves it: no venue
    write(book, "acct1", ACCT1, venue="bitmart")
    every = ["--db", book, "--all-accounts"]
    rows = json.loads(tracker("orders", *every, "--format", "json").stdout)
    assert [r["account"] for r in rows] == sorted(r["account"] for r in rows)
    assert {(r["account"], r["venue"]) for r in rows} == {("acct1", "bitmart"), ("acct2", None)}
    assert {tuple(r) for r in rows} == {("account", "book_live", *ORDER_FIELDS, "venue")}
    for account in ("acct1", "acct2"):
        alone = json.loads(tracker("orders", *reading(book, account), "--format", "json").stdout)
        assert alone, account
        assert [{k: v for k, v in r.items() if k not in ("account", "book_live", "venue")}
                for r in rows if r["account"] == account] == alone
    csv_lines = tracker("orders", *every, "--format", "csv").stdout.splitlines()
    assert csv_lines[0] == ",".join(("account", "book_live", *ORDER_FIELDS, "venue"))
    assert len(csv_lines) == 1 + len(rows)
    assert {tuple(line.split(",")[::len(ORDER_FIELDS) + 2]) for line in csv_lines[1:]} == {
        ("acct1", "bitmart"), ("acct2", "")}
    table = tracker("orders", *every).stdout.splitlines()
    assert table[0].split()[:4] == ["account", "venue", "book", "order_id"]
    assert {tuple(line.split()[:2]) for line in table[1:1 + len(rows)]} == {
        ("acct1", "bitmart"), ("acct2", "-")}
    # No tracker recorded these accounts' markets, nor acct2's venue: `-`, and why.
    assert table[-3:] == [f"{len(rows)} open orders", formats.UNRECORDED_NOTE,
                          formats.VENUE_NOTE]
    only = json.loads(tracker("orders", *every, "--symbol", "SOL_USDT", "--format",
                              "json").stdout)
    assert {r["account"] for r in only} == {"acct2"}
    lite = tmp_path / "orders.db"
    refused = tracker("orders", "--db", str(lite), "--all-accounts")
    assert refused.returncode == 78 and "--all-accounts: an SQLite book holds one account" \
        in refused.stderr


BITMART_BTC = ("bitmart", "BTC_USDT", "BTC", "USDT")


def test_every_accounts_orders_of_one_market_whatever_each_venue_calls_it(
        book: Database) -> None:
    """Each account's writer records its venue's markets in its batch; trackers of one
    venue write the same rows again without a conflict; `--all-accounts` shows the unified
    symbol beside each venue's, and the query docs/postgres.md gives finds them all."""
    write(book, "acct1", ACCT1, (BITMART_BTC, ("bitmart", "ETH_USDT", "ETH", "USDT")),
          venue="bitmart")
    write(book, "acct2", [order(10, "BTCUSDT"), order(12, "SOLUSDT")],
          (("binance", "BTCUSDT", "BTC", "USDT"),), venue="binance")
    write(book, "acct3", [order(11, "BTC_USDT")], (BITMART_BTC,), venue="bitmart")
    every = ["--db", book, "--all-accounts"]
    rows = json.loads(tracker("orders", *every, "--format", "json").stdout)
    assert {(r["account"], r["order_id"], r["unified_symbol"]) for r in rows} == {
        ("acct1", "900000", "BTC/USDT"), ("acct1", "900001", "ETH/USDT"),
        ("acct1", "900002", "BTC/USDT"), ("acct1", "900004", "ETH/USDT"),
        ("acct2", "900010", "BTC/USDT"), ("acct2", "900012", None),
        ("acct3", "900011", "BTC/USDT")}
    assert {(r["account"], r["venue"]) for r in rows} == {
        ("acct1", "bitmart"), ("acct2", "binance"), ("acct3", "bitmart")}
    table = tracker("orders", *every).stdout.splitlines()
    assert table[0].split()[:7] == ["account", "venue", "book", "order_id", "symbol",
                                    "unified_symbol", "side"]
    sol = next(line.split() for line in table if "SOLUSDT" in line)
    assert sol[sol.index("SOLUSDT") + 1] == "-"  # beside it, where its unified symbol goes
    assert table[-1] == ("- as unified_symbol: the market is not recorded in the book yet (its "
                         "tracker records it at its start and after each seed)")
    (across,) = documented("postgres.md", "All open orders on BTC/USDT, across venues and "
                                          "accounts")
    with psycopg.connect(book.url()) as conn:
        found = conn.execute(across).fetchall()
        markets = conn.execute("SELECT * FROM markets ORDER BY venue, symbol").fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in found] == [
        ("acct1", "bitmart", "BTC_USDT", "900000"), ("acct1", "bitmart", "BTC_USDT", "900002"),
        ("acct2", "binance", "BTCUSDT", "900010"), ("acct3", "bitmart", "BTC_USDT", "900011")]
    assert markets == [("binance", "BTCUSDT", "BTC", "USDT", "BTC/USDT"),
                       ("bitmart", "BTC_USDT", "BTC", "USDT", "BTC/USDT"),
                       ("bitmart", "ETH_USDT", "ETH", "USDT", "ETH/USDT")]
