"""`tracker migrate --db postgresql://...` against a real PostgreSQL 15 server (the session's
throwaway cluster, harness/postgres.py): the installed `tracker` script as a subprocess, its
output as a user reads it, and the schema as psql would show it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness import clean_env, eventually
from harness.docs import documented
from harness.postgres import Database, Postgres, cli_args, client_env
from tracker.postgres import migrate as pg_migrate
from tracker.sqlite import migrate

TRACKER = str(Path(sys.executable).parent / "tracker")  # the console script pip installed
EX_CONFIG, EX_UNAVAILABLE = 78, 69
LATEST = migrate.load()[-1][0]
CONTRACT = {"orders": "BASE TABLE", "order_events": "BASE TABLE", "sync_state": "BASE TABLE",
            "open_orders": "VIEW", "markets": "BASE TABLE", "tracker_schema": "BASE TABLE"}


def env(**extra: str) -> dict[str, str]:
    return client_env(clean_env()) | extra


def tracker(*args: str | Database, **extra: str) -> subprocess.CompletedProcess[str]:
    words, environment = cli_args(args, env(**extra))
    return subprocess.run([TRACKER, *words], capture_output=True, text=True, timeout=60,
                          env=environment)


def query(postgres: Postgres, db: Database, sql: str) -> list[tuple[Any, ...]]:
    """As the superuser, who sees every table."""
    with postgres.connect(db.name) as conn:
        return conn.execute(sql).fetchall()


def owner(db: Database) -> psycopg.Connection[Any]:
    """As the database's owner, as the tracker connects."""
    return psycopg.connect(db.url(), autocommit=True)


def relations(postgres: Postgres, db: Database) -> dict[str, str]:
    return dict(query(postgres, db, "SELECT table_name, table_type FROM "
                                    "information_schema.tables WHERE table_schema = 'public'"))


def versions(postgres: Postgres, db: Database) -> list[int]:
    return [r[0] for r in query(postgres, db, "SELECT version FROM tracker_schema ORDER BY 1")]


def columns(postgres: Postgres, db: Database) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for table, column, kind in query(
            postgres, db, "SELECT table_name, column_name, data_type FROM "
            "information_schema.columns WHERE table_schema = 'public' ORDER BY ordinal_position"):
        found.setdefault(table, {})[column] = kind
    return found


def sqlite_columns(tmp_path: Path) -> dict[str, dict[str, str]]:
    conn = sqlite3.connect(tmp_path / "orders.db")
    migrate.apply(conn)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN "
                                         "('table', 'view') AND name NOT LIKE 'sqlite_%'")]
    found = {t: {r[1]: r[2] for r in conn.execute(f"PRAGMA table_info({t})")} for t in tables}
    conn.close()
    return found


def test_a_fresh_database_gets_the_sqlite_contract_with_an_account_column(
        postgres: Postgres, pg_database: Database, tmp_path: Path) -> None:
    done = tracker("migrate", "--db", pg_database)
    assert (done.returncode, done.stderr) == (0, "")
    shown = pg_database.url(password=False)
    assert done.stdout == f"{shown}: created the book, schema version {LATEST}\n"
    assert relations(postgres, pg_database) == CONTRACT
    assert versions(postgres, pg_database) == list(range(1, LATEST + 1))
    keys = dict(query(postgres, pg_database, """
        SELECT tc.table_name, array_agg(k.column_name::text ORDER BY k.ordinal_position)
        FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)
        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public'
        GROUP BY tc.table_name"""))
    assert keys == {"orders": ["account", "order_id"], "order_events": ["account", "seq"],
                    "sync_state": ["account"], "tracker_schema": ["version"],
                    "markets": ["venue", "symbol"]}
    pg, lite = columns(postgres, pg_database), sqlite_columns(tmp_path)
    lite["sync_state"].pop("id")  # one row per account instead of the single row 1
    for table in ("orders", "open_orders", "order_events", "sync_state"):
        assert list(pg[table]) == ["account", *lite[table]], table
        for column, kind in lite[table].items():
            # SQLite's INTEGERs are millisecond times, seqs and counters: bigint all, bar the
            # 0/1 flags and a pid; its TEXT (ids, exact amounts) stays text.
            expected = ("integer" if column in ("live", "unresolved", "pid") and
                        (table, column) != ("sync_state", "unresolved") else
                        "bigint" if kind == "INTEGER" else "text")
            assert pg[table][column] == expected, (table, column, pg[table][column])
    # A venue's markets are every account's: no account column.
    assert pg["markets"] == dict.fromkeys(lite["markets"], "text")


def test_a_second_migrate_changes_nothing_and_says_so(postgres: Postgres,
                                                      pg_database: Database) -> None:
    assert tracker("migrate", "--db", pg_database).returncode == 0
    # Through TRACKER_DB, the password from PGPASSWORD as libpq reads it.
    again = tracker("migrate", TRACKER_DB=pg_database.url(password=False),
                    PGPASSWORD=pg_database.password)
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout == (f"{pg_database.url(password=False)}: nothing to do, already at "
                            f"schema version {LATEST} (the latest)\n")
    assert versions(postgres, pg_database) == list(range(1, LATEST + 1))


def test_an_older_schema_is_upgraded_and_the_output_says_from_which(postgres: Postgres,
                                                                    pg_database: Database) -> None:
    with owner(pg_database) as conn:
        assert pg_migrate.apply(conn, migrate.load(pg_migrate.directory())[:2]) == (0, 2)
    done = tracker("migrate", "--db", pg_database)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (f"{pg_database.url(password=False)}: upgraded from schema version 2 "
                           f"to {LATEST} (the latest)\n")
    assert versions(postgres, pg_database) == list(range(1, LATEST + 1))


def test_two_migrates_at_once_both_succeed_and_apply_each_version_once(
        postgres: Postgres, pg_database: Database) -> None:
    # The test holds the migrations' lock (as the tracker's role: no other can take it)
    # until both have connected and wait for it, so that they race for real rather than one
    # after the other.
    words, environment = cli_args(["migrate", "--db", pg_database], env())
    with owner(pg_database) as holder:
        holder.execute(pg_migrate.VERSIONS)
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE tracker_schema IN EXCLUSIVE MODE")
        procs = [subprocess.Popen([TRACKER, *words], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=environment)
                 for _ in range(2)]
        outputs = []
        try:
            def both_wait() -> None:
                waiting = holder.execute(
                    "SELECT count(*) FROM pg_locks WHERE relation = 'tracker_schema'::regclass "
                    "AND NOT granted").fetchone()
                assert waiting == (2,), waiting
            eventually(both_wait, 30, "two migrates waiting for the lock")
            assert relations(postgres, pg_database) == {"tracker_schema": "BASE TABLE"}
        finally:
            holder.execute("ROLLBACK")
            for proc in procs:
                try:
                    out, err = proc.communicate(timeout=60)
                finally:
                    proc.kill()  # nothing to do once it has exited
                outputs.append((proc.returncode, out, err))
    shown = pg_database.url(password=False)
    assert [(code, err) for code, _, err in outputs] == [(0, ""), (0, "")], outputs
    lines = sorted(out for _, out, _ in outputs)
    assert lines[0] == f"{shown}: created the book, schema version {LATEST}\n", lines
    # The other waited, then found the work done (or, let in between two of the first's
    # transactions, did the rest of it).
    assert lines[1].startswith((f"{shown}: nothing to do", f"{shown}: upgraded from")), lines
    assert lines[1].endswith(f" {LATEST} (the latest)\n"), lines
    assert versions(postgres, pg_database) == list(range(1, LATEST + 1))
    assert relations(postgres, pg_database) == CONTRACT


def test_a_database_from_a_newer_tracker_is_refused_in_one_line(postgres: Postgres,
                                                                 pg_database: Database) -> None:
    assert tracker("migrate", "--db", pg_database).returncode == 0
    with postgres.connect(pg_database.name) as conn:
        conn.execute("INSERT INTO tracker_schema (version) VALUES (%s)", (LATEST + 1,))
    done = tracker("migrate", "--db", pg_database)
    assert (done.returncode, done.stdout) == (EX_CONFIG, "")
    assert done.stderr == (f"tracker: db: {pg_database.url(password=False)}: the book is "
                           f"at schema {LATEST + 1}, newer than this tracker's {LATEST}: "
                           "upgrade the tracker\n")
    assert versions(postgres, pg_database) == [*range(1, LATEST + 1), LATEST + 1]


def test_another_programs_tables_of_the_same_names_are_left_alone(postgres: Postgres,
                                                                  pg_database: Database) -> None:
    with postgres.connect(pg_database.name) as conn:
        conn.execute("CREATE TABLE orders (id int)")
    done = tracker("migrate", "--db", pg_database)
    assert (done.returncode, done.stdout) == (EX_CONFIG, "")
    assert done.stderr.startswith(f"tracker: db: {pg_database.url(password=False)}: not a "
                                  "tracker book (schema version 0, tables: orders): point db "
                                  "at another database"), done.stderr
    assert done.stderr.count("\n") == 1
    assert relations(postgres, pg_database) == {"orders": "BASE TABLE"}


def test_open_orders_shows_one_accounts_open_orders_with_exact_amounts(
        postgres: Postgres, pg_database: Database) -> None:
    assert tracker("migrate", "--db", pg_database).returncode == 0
    states = ("new", "partially_filled", "filled", "canceled", "partially_canceled", "failed")
    with postgres.connect(pg_database.name) as conn:
        for account in ("desk-a", "desk-b"):
            for n, state in enumerate(states):
                conn.execute(
                    "INSERT INTO orders (account, order_id, symbol, side, price, size, "
                    "filled_size, state, source, changed_at, last_seq) VALUES "
                    "(%s, %s, 'BTC_USDT', 'buy', '0.00000010', '12345678901234.5', '0', %s, "
                    "'push', 1764590400000, %s)",
                    (account, f"{100000000000000000 + n}", state, n + 1))
        rows = conn.execute("SELECT order_id, state, price, size FROM open_orders "
                            "WHERE account = 'desk-a' ORDER BY order_id").fetchall()
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT order_id FROM open_orders WHERE account = 'desk-a' "
            "AND symbol = 'BTC_USDT'"))
    assert rows == [("100000000000000000", "new", "0.00000010", "12345678901234.5"),
                    ("100000000000000001", "partially_filled", "0.00000010",
                     "12345678901234.5")]
    assert "orders_open_by_symbol" in plan, plan


def test_a_failing_migration_leaves_the_schema_at_the_version_before(
        postgres: Postgres, pg_database: Database) -> None:
    good = migrate.load(pg_migrate.directory())
    broken = [*good, (LATEST + 1, "ALTER TABLE orders ADD COLUMN extra text; "
                                  "SELECT * FROM nowhere;")]
    with owner(pg_database) as conn:
        assert pg_migrate.apply(conn, good) == (0, LATEST)
        with pytest.raises(psycopg.errors.UndefinedTable):
            pg_migrate.apply(conn, broken)
    assert versions(postgres, pg_database) == list(range(1, LATEST + 1))
    assert "extra" not in columns(postgres, pg_database)["orders"]


def test_a_wrong_password_is_refused_without_printing_it(postgres: Postgres,
                                                         pg_database: Database) -> None:
    wrong = Database(pg_database.name, "not-the-Secret-42", pg_database.port)
    done = tracker("migrate", "--db", wrong.url())  # in argv, as a careless user would
    assert (done.returncode, done.stdout) == (EX_UNAVAILABLE, "")
    warning, error = done.stderr.splitlines()
    assert warning.startswith("tracker: warning: --db holds a password"), warning
    assert error.startswith(f"tracker: db: cannot connect to "
                            f"{wrong.url(password=False)}: "), done.stderr
    assert "password authentication failed" in error
    assert "not-the-Secret-42" not in done.stderr


def test_the_postgresql_migrations_are_numbered_as_sqlites() -> None:
    assert [n for n, _ in migrate.load(pg_migrate.directory())] == [
        n for n, _ in migrate.load()]


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://u:p%40ss@h1:5432,h2:5433/db?sslmode=verify-full&password=zz"
     "&target_session_attrs=read-write",
     "postgresql://u@h1:5432,h2:5433/db?sslmode=verify-full&target_session_attrs=read-write"),
    ("postgres://u:pw@h/db?password=zz", "postgres://u@h/db"),
    ("postgresql:///db?host=/run/postgresql", "postgresql:///db?host=/run/postgresql"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
])
def test_a_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert pg_migrate.shown(url) == shown


def test_a_drivers_message_is_one_line_without_the_password() -> None:
    url = "postgresql://u:p%40ss@h/db?password=zz"
    said = pg_migrate.said(ValueError('invalid token "p%40ss" (p@ss),\n\tand zz'), url)
    assert said == 'invalid token "***" (***), and ***'


def test_the_readers_need_an_account_with_a_postgresql_url() -> None:
    for command in ("orders", "status", "watch"):
        done = tracker(command, "--db", "postgresql://u@127.0.0.1:1/db")
        assert (done.returncode, done.stdout) == (EX_CONFIG, ""), command
        assert done.stderr == ("tracker: configuration error: account: missing; a PostgreSQL "
                               "book is shared by accounts: set account (in the file, "
                               "TRACKER_ACCOUNT or --account)\n"), command


@pytest.mark.parametrize("source", ["TRACKER_DB_PASSWORD", "TRACKER_DB_PASSWORD_FILE",
                                    "credential db_password"])
def test_migrate_and_the_readers_take_the_password_as_run_does(
        postgres: Postgres, pg_database: Database, tmp_path: Path, source: str) -> None:
    """docs/postgres.md keeps the password out of the URL, in one of the tracker's own secret
    sources: `migrate` once ignored them all (fe_sendauth: no password supplied)."""
    secret = tmp_path / "db_password"
    secret.write_text(pg_database.password + "\n")
    extra = {"TRACKER_DB_PASSWORD": {"TRACKER_DB_PASSWORD": pg_database.password},
             "TRACKER_DB_PASSWORD_FILE": {"TRACKER_DB_PASSWORD_FILE": str(secret)},
             "credential db_password": {"CREDENTIALS_DIRECTORY": str(tmp_path)}}[source]
    url = pg_database.url(password=False)
    done = tracker("migrate", "--db", url, **extra)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout == f"{url}: created the book, schema version {LATEST}\n"
    assert versions(postgres, pg_database) == list(range(1, LATEST + 1))
    with postgres.connect(pg_database.name) as conn:  # the row a tracker's first start makes
        conn.execute("INSERT INTO sync_state (account) VALUES ('acct1')")
    status = tracker("status", "--json", "--db", url, "--account", "acct1", **extra)
    assert "error" not in json.loads(status.stdout), status.stdout
    assert status.returncode in (1, 3), status  # read: it has not written since
    orders = tracker("orders", "--db", url, "--account", "acct1", "--format", "csv", **extra)
    assert orders.returncode == 0 and orders.stdout.startswith("order_id,symbol,"), orders
    assert pg_database.password not in done.stdout + status.stdout + status.stderr


OLD_ACCOUNT_KEY = "SELECT pg_advisory_lock(hashtextextended('tracker account ' || %s, 0))"
OLD_MIGRATION_KEY = int.from_bytes(b"tracker", "big")


def test_a_reader_cannot_hold_migrations_back(postgres: Postgres,
                                              pg_database: Database) -> None:
    """A reader's role holding what were the migrations' and an account's advisory locks
    (under a tracker's name), and reading tracker_schema in an open transaction, delays no
    migration: before schema 6 the first made `tracker migrate` (and every start) wait for
    ever, deaf to SIGTERM."""
    reader = postgres.create_reader(pg_database)
    with owner(pg_database) as conn:
        pg_migrate.apply(conn, migrate.load(pg_migrate.directory())[:5])
    with psycopg.connect(reader, autocommit=True,
                         application_name="tracker acct pid 4242 on prodhost1") as squatter:
        squatter.execute("SELECT pg_advisory_lock(%s)", (OLD_MIGRATION_KEY,))
        squatter.execute(OLD_ACCOUNT_KEY, ("acct",))
        squatter.execute("BEGIN")
        squatter.execute("SELECT * FROM tracker_schema")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            squatter.execute("LOCK TABLE tracker_schema IN EXCLUSIVE MODE")
        started = time.monotonic()
        done = tracker("migrate", "--db", pg_database)
        assert (done.returncode, done.stderr) == (0, ""), done
        assert time.monotonic() - started < 10
    assert versions(postgres, pg_database) == list(range(1, LATEST + 1))


def test_a_readers_long_transaction_bounds_a_migrations_wait(postgres: Postgres,
                                                             pg_database: Database) -> None:
    """A migration's DDL waits for a reader's open transaction on the table it changes (and
    every reader after it waits behind the migration): lock_timeout bounds that, and the
    migration gives up with one line naming who held the table, schema unchanged."""
    reader = postgres.create_reader(pg_database)
    good = migrate.load(pg_migrate.directory())
    with owner(pg_database) as conn:
        pg_migrate.apply(conn, good)
    with psycopg.connect(reader, autocommit=True, application_name="risk") as long_read:
        long_read.execute("BEGIN")
        long_read.execute("SELECT count(*) FROM orders")
        with owner(pg_database) as conn:
            conn.execute("SET lock_timeout = '1s'")
            started = time.monotonic()
            with pytest.raises(pg_migrate.StartupError) as busy:
                pg_migrate.apply(conn, [*good, (LATEST + 1, "ALTER TABLE orders ADD x int")])
            assert time.monotonic() - started < 5
    assert busy.value.code == 75
    assert str(busy.value) == (
        f"waited 1s for a lock held by {pg_database.name}_reader pid {busy_pid(busy)} (risk, "
        "state hidden from this role) on orders: the schema is unchanged; try again once that "
        "transaction ends")
    assert versions(postgres, pg_database) == list(range(1, LATEST + 1))


def busy_pid(busy: pytest.ExceptionInfo[pg_migrate.StartupError]) -> str:
    return str(busy.value).split(" pid ")[1].split()[0]


def test_a_migrate_that_waits_too_long_exits_75_naming_the_holder(
        postgres: Postgres, pg_database: Database) -> None:
    """Another holder of the migrations' lock (a migration that hangs, a person in psql):
    `tracker migrate` waits lock_timeout (30 s, or the URL's own), then exits 75."""
    with owner(pg_database) as holder:
        pg_migrate.apply(holder, migrate.load(pg_migrate.directory())[:5])
        holder.execute("SET application_name = 'psql'")
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE tracker_schema IN EXCLUSIVE MODE")
        started = time.monotonic()
        done = tracker("migrate", "--db",
                       f"{pg_database.url(password=False)}?options=-c%20lock_timeout%3D2s",
                       TRACKER_DB_PASSWORD=pg_database.password)
        assert time.monotonic() - started < 10
        holder.execute("ROLLBACK")
    assert (done.returncode, done.stdout) == (75, ""), done
    assert done.stderr.startswith(
        f"tracker: db: {pg_database.url(password=False)}?options=-c%20lock_timeout%3D2s: "
        f"waited 2s for a lock held by {pg_database.name} pid "), done.stderr
    assert "(psql, idle in transaction) on tracker_schema" in done.stderr
    assert done.stderr.count("\n") == 1
    assert versions(postgres, pg_database) == [1, 2, 3, 4, 5]


def test_the_upgrade_to_schema_6_waits_for_every_older_tracker_to_stop(
        postgres: Postgres, pg_database: Database) -> None:
    """A tracker of schema 5 still running would go on writing under its advisory lock
    beside one of schema 6 under the claim: the upgrade names it and exits 75."""
    with owner(pg_database) as conn:
        pg_migrate.apply(conn, migrate.load(pg_migrate.directory())[:5])
    with psycopg.connect(pg_database.url(), autocommit=True,
                         application_name="tracker acct pid 977 on host2") as old:
        old.execute(OLD_ACCOUNT_KEY, ("acct",))
        done = tracker("migrate", "--db", pg_database)
        pid = old.info.backend_pid
    assert (done.returncode, done.stdout) == (75, ""), done
    assert done.stderr == (
        f"tracker: db: {pg_database.url(password=False)}: trackers of an older version still "
        f"run on this book: tracker acct pid 977 on host2 (backend pid {pid}); stop every "
        "tracker of the book (active and standby) before upgrading to schema 6\n")
    assert versions(postgres, pg_database) == [1, 2, 3, 4, 5]
    assert tracker("migrate", "--db", pg_database).returncode == 0


OLD_OPEN_COLUMNS = ["account", "order_id", "symbol", "side", "type", "price", "size",
                    "filled_size", "filled_notional", "state", "client_order_id", "created_at",
                    "updated_at", "unresolved"]
# Three accounts at schema 7: two venues writing BTC/USDT their own ways, and an account
# whose tracker has not recorded its venue yet.
ACCOUNTS = {"desk-a": ("bitmart", ["BTC_USDT", "ETH_USDT"]), "desk-b": ("binance", ["BTCUSDT"]),
            "desk-c": (None, ["BTC_USDT"])}
STATES = ("new", "partially_filled", "filled")


def book_at_schema_7(conn: psycopg.Connection[Any]) -> None:
    assert pg_migrate.apply(conn, migrate.load(pg_migrate.directory())[:7]) == (0, 7)
    seq = 0
    for account, (venue, symbols) in ACCOUNTS.items():
        conn.execute("INSERT INTO sync_state (account, venue, live) VALUES (%s, %s, 1)",
                     (account, venue))
        for symbol in symbols:
            for state in STATES:
                seq += 1
                conn.execute(
                    "INSERT INTO orders (account, order_id, symbol, side, price, size, "
                    "filled_size, state, source, created_at, changed_at, last_seq) VALUES "
                    "(%s, %s, %s, 'buy', '60000.50', '0.25', '0', %s, 'push', %s, 1, %s)",
                    (account, f"{symbol}:{seq}", symbol, state, 1_700_000_000_000 + seq, seq))
                conn.execute("INSERT INTO order_events (account, seq, received_at, epoch, "
                             "source, order_id, outcome) VALUES (%s, %s, 1, 1, 'push', %s, "
                             "'applied')", (account, seq, f"{symbol}:{seq}"))


def dump(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("orders", "order_events", "sync_state")}


def test_a_schema_7_book_keeps_every_row_and_answers_the_documented_cross_venue_queries(
        postgres: Postgres, pg_database: Database) -> None:
    """Schema 8 changes no row; `open_orders` keeps its columns and gains `venue` and
    `unified_symbol` at the end; the queries docs/postgres.md gives for one market across
    venues and accounts find each venue's spelling of it, and a reader's usual query is
    still an index-only scan that joins nothing."""
    old_select = f"SELECT {', '.join(OLD_OPEN_COLUMNS)} FROM open_orders ORDER BY 1, 2"
    (across,) = documented("postgres.md", "All open orders on BTC/USDT, across venues and "
                                          "accounts")
    (any_state,) = documented("postgres.md", "Orders of any state on BTC/USDT, across "
                                             "venues and accounts")
    with owner(pg_database) as conn:
        book_at_schema_7(conn)
        before, open_before = dump(conn), conn.execute(old_select).fetchall()
        assert pg_migrate.apply(conn) == (7, LATEST)
        assert dump(conn) == before
        assert conn.execute(old_select).fetchall() == open_before
        assert conn.execute(across).fetchall() == []  # no market recorded yet: NULL
        conn.execute("INSERT INTO markets VALUES ('bitmart', 'BTC_USDT', 'BTC', 'USDT', "
                     "'BTC/USDT'), ('bitmart', 'ETH_USDT', 'ETH', 'USDT', 'ETH/USDT'), "
                     "('binance', 'BTCUSDT', 'BTC', 'USDT', 'BTC/USDT')")
        found = conn.execute(across).fetchall()
        every = conn.execute(any_state).fetchall()
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT order_id, price FROM open_orders WHERE account = 'desk-a' "
            "AND symbol = 'BTC_USDT'"))
    view = columns(postgres, pg_database)["open_orders"]
    assert list(view) == [*OLD_OPEN_COLUMNS, "venue", "unified_symbol"]
    assert [(r[0], r[1], r[2], r[3], r[8]) for r in found] == [
        ("desk-a", "bitmart", "BTC_USDT", "BTC_USDT:1", "new"),
        ("desk-a", "bitmart", "BTC_USDT", "BTC_USDT:2", "partially_filled"),
        ("desk-b", "binance", "BTCUSDT", "BTCUSDT:7", "new"),
        ("desk-b", "binance", "BTCUSDT", "BTCUSDT:8", "partially_filled")]
    # desk-c records no venue (a book from before schema 7 that no tracker has started on
    # since): its BTC_USDT is no venue's market yet.
    assert [(r[0], r[3], r[4]) for r in every] == [
        ("desk-a", "BTC_USDT:1", "new"), ("desk-a", "BTC_USDT:2", "partially_filled"),
        ("desk-a", "BTC_USDT:3", "filled"), ("desk-b", "BTCUSDT:7", "new"),
        ("desk-b", "BTCUSDT:8", "partially_filled"), ("desk-b", "BTCUSDT:9", "filled")]
    assert "Index Only Scan using orders_open_by_symbol" in plan, plan
    assert "markets" not in plan and "sync_state" not in plan, plan
