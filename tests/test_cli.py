"""The read-only commands, as a user meets them: the installed `tracker` script run as a
subprocess against books on disk, written by the store as the daemon writes them.

A stopped daemon's book is enough for everything here except a live one's times, which
tests/test_cli_e2e.py reads from a running daemon.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.metadata
import io
import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from harness import clean_env
from tracker.batch import Batch
from tracker.book import Outcome
from tracker.codec import OrderUpdate
from tracker.sqlite import migrate
from tracker.sqlite.store import Store

TRACKER = str(Path(sys.executable).parent / "tracker")  # the console script pip installed
EX_CONFIG, EX_UNAVAILABLE, EX_PIPE = 78, 69, 141
BTC, ETH = 1500, 500  # open orders: more than a pipe holds (64 KiB), as csv or json
# Fixed moments of the stopped book, and how `status` must write them.
STARTED, LIVE_SINCE, LAST_EVENT, LAST_SEED = (1764590400000, 1764590591123, 1764590950500,
                                              1764590591000)


def tracker(*args: str, stdout: Any = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRACKER, *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=60, env=clean_env())


def order(n: int, symbol: str) -> OrderUpdate:
    partial = n % 3 == 0
    return OrderUpdate(order_id=f"{900000 + n}", symbol=symbol, side="buy" if n % 2 else "sell",
                       state="partially_filled" if partial else "new",
                       price=Decimal("60000.5"), size=Decimal("0.25"),
                       filled_size=Decimal("0.1") if partial else Decimal("0"),
                       filled_notional=Decimal("6000.05") if partial else Decimal("0"),
                       source="push", type="limit", create_time=1764590000000 + n)


def write_book(db: Path, orders: list[OrderUpdate],
               markets: tuple[tuple[str, str, str, str], ...] = (), **state: Any) -> None:
    async def write() -> None:
        store = await Store.open(db)
        batch = Batch(markets=list(markets))
        for row in orders:
            seq = store.take_seq()
            batch.journal(seq, 1, "push", Outcome.APPLIED, row)
            batch.order(row, seq, unresolved=False)
        batch.state.update(state)
        await store.commit(batch)
        await store.close()

    asyncio.run(write())


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped daemon's book: 2,000 open orders on two symbols, times known."""
    db = tmp_path_factory.mktemp("cli") / "orders.db"
    rows = [order(n, "BTC_USDT" if n < BTC else "ETH_USDT") for n in range(BTC + ETH)]
    write_book(db, rows, live=0, status="stopped", epoch=2, pid=4242, started_at=STARTED,
               live_since=LIVE_SINCE, last_event_at=LAST_EVENT, last_seed_at=LAST_SEED,
               last_seed_orders=BTC + ETH, splices=2, reconnects=1)
    return db


# -- 1: a reader that goes away ------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_a_reader_that_left_ends_orders_quietly(book: Path, fmt: str) -> None:
    """The pipe's reading end is closed before `tracker` starts: every write fails."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = tracker("orders", "--db", str(book), "--format", fmt, stdout=write)
    finally:
        os.close(write)
    assert done.returncode == EX_PIPE and done.stderr == "", (done.returncode, done.stderr)


def test_head_takes_two_lines_and_tracker_stops_without_a_traceback(book: Path) -> None:
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; '{TRACKER}' orders --format csv --db '{book}' "
                       "| head -2; echo \"exit ${PIPESTATUS[0]}\""],
        capture_output=True, text=True, timeout=60, env=clean_env())
    lines = done.stdout.splitlines()
    assert lines[0].startswith("order_id,symbol,side") and lines[1].startswith("900000,")
    assert lines[2:] == [f"exit {EX_PIPE}"], done.stdout
    assert done.stderr == ""


# -- 3: one count, from one read -----------------------------------------------------


def test_status_shows_its_own_count_once_and_the_daemons_words_without_theirs(
        tmp_path: Path) -> None:
    """The daemon's status column carries a count written at another moment (here 999):
    `status` shows its own count, from the same read as the rest, and only that one."""
    db = tmp_path / "orders.db"
    write_book(db, [order(n, "BTC_USDT") for n in range(7)], live=1, epoch=1,
               status="live, 999 open orders", started_at=STARTED, live_since=LIVE_SINCE)
    state = json.loads(tracker("status", "--json", "--db", str(db)).stdout)
    assert state["open_orders"] == 7 and state["status"] == "live", state
    text = tracker("status", "--db", str(db)).stdout
    assert "999" not in text and text.count("open orders") == 1, text
    assert "  open orders  7\n" in text, text


# -- 5: argument errors --------------------------------------------------------------


@pytest.mark.parametrize(("args", "option"), [
    (["orders", "--format", "xml"], "--format"),
    (["sim", "--port", "abc"], "--port"),
    (["status", "--jsn"], "--jsn"),
    (["migrate", "--db"], "--db"),
])
def test_an_argument_error_is_one_line_naming_the_option_and_exit_78(
        args: list[str], option: str) -> None:
    done = tracker(*args)
    lines = done.stderr.splitlines()
    assert done.returncode == EX_CONFIG, (done.returncode, done.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"tracker {args[0]}: "), done.stderr
    assert option in lines[0] and done.stdout == ""


def test_a_bare_tracker_prints_the_short_help_and_exits_78() -> None:
    done = tracker()
    assert done.returncode == EX_CONFIG and done.stdout == ""
    assert done.stderr.startswith("usage: tracker")
    for command in ("run", "orders", "status", "healthcheck", "migrate", "demo", "sim"):
        assert f"\n    {command} " in done.stderr or f"\n    {command}\n" in done.stderr


def test_healthcheck_argument_errors_still_exit_1() -> None:
    """Docker reserves exit codes 2 and up for itself."""
    for args in (["--bogus"], ["--db"]):
        done = tracker("healthcheck", *args)
        assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr


# -- 6: --version --------------------------------------------------------------------


def test_version_is_the_installed_packages() -> None:
    done = tracker("--version")
    assert done.returncode == 0
    assert done.stdout == f"tracker {importlib.metadata.version('open-order-tracker')}\n"


# -- 7: times, as systemctl shows them -----------------------------------------------


def test_status_shows_when_in_utc_and_iso_8601_beside_the_milliseconds(book: Path) -> None:
    done = tracker("status", "--json", "--db", str(book))
    state = json.loads(done.stdout)
    assert done.returncode == 3 and state["exit_code"] == 3
    assert state["live_since"] == LIVE_SINCE
    assert state["live_since_iso"] == "2025-12-01T12:03:11.123Z"
    assert state["started_at_iso"] == "2025-12-01T12:00:00.000Z"
    assert state["last_event_at_iso"] == "2025-12-01T12:09:10.500Z"
    assert state["last_seed_at_iso"] == "2025-12-01T12:03:11.000Z"
    assert state["heartbeat_at_iso"].endswith("Z")

    text = tracker("status", "--db", str(book)).stdout.splitlines()
    assert text[0] == "NOT LIVE: stopped", text
    fields = {line[2:15].strip(): line[15:] for line in text[1:]}
    assert fields["last event"].startswith("2025-12-01 12:09:10 UTC; ")
    assert fields["last event"].endswith(" d ago") or fields["last event"].endswith(" h ago")
    assert fields["last seed"].startswith("2025-12-01 12:03:11 UTC; ")
    assert fields["last seed"].endswith(f"ago ({BTC + ETH} orders read)")
    assert fields["daemon"].startswith("not running; last commit 20")
    assert fields["daemon"].endswith(" s ago"), fields  # the store committed just now


# -- 13: the smaller ones ------------------------------------------------------------


def test_migrate_says_whether_it_created_upgraded_or_changed_nothing(tmp_path: Path) -> None:
    db = tmp_path / "orders.db"
    latest = migrate.load()[-1][0]
    created = tracker("migrate", "--db", str(db))
    assert created.stdout == f"{db}: created the book, schema version {latest}\n"
    again = tracker("migrate", "--db", str(db))
    assert again.stdout == (f"{db}: nothing to do, already at schema version {latest} "
                            "(the latest)\n")
    older = tmp_path / "older.db"
    conn = sqlite3.connect(older)
    migrate.apply(conn, migrate.load()[:2])
    conn.close()
    upgraded = tracker("migrate", "--db", str(older))
    assert upgraded.stdout == (f"{older}: upgraded from schema version 2 to {latest} "
                               "(the latest)\n")
    assert {created.returncode, again.returncode, upgraded.returncode} == {0}


def test_a_book_no_daemon_has_run_on_says_so(tmp_path: Path) -> None:
    db = tmp_path / "orders.db"
    assert tracker("migrate", "--db", str(db)).returncode == 0
    done = tracker("status", "--db", str(db))
    assert done.returncode == 3
    assert done.stdout.splitlines()[0] == "NOT LIVE: no daemon has run on this book yet"
    assert "starting" not in done.stdout and "running no" not in done.stdout
    state = json.loads(tracker("status", "--json", "--db", str(db)).stdout)
    assert state["status"] == "no daemon has run on this book yet"
    assert state["not_live_reason"] == "never_started"
    health = tracker("healthcheck", "--db", str(db))
    assert (health.returncode, health.stdout) == (
        1, "unhealthy: no daemon has run on this book yet\n")


def test_a_directory_as_the_book_is_named_as_one(tmp_path: Path) -> None:
    for command in (["orders"], ["status"], ["status", "--json"]):
        done = tracker(*command, "--db", str(tmp_path))
        assert done.returncode == EX_UNAVAILABLE
        assert done.stderr == f"tracker: {tmp_path} is a directory, not a book file\n"


def test_every_command_describes_itself_and_config_has_help() -> None:
    for command in ("run", "orders", "status", "healthcheck", "migrate"):
        text = tracker(command, "--help").stdout
        description = text.split("\n\n")[1]
        assert not description.startswith("options:"), (command, text)
        config = text[text.index("\n  --config CONFIG"):].split("\n  -")[1]
        assert "TOML file" in config, (command, text)


def test_status_json_gives_live_and_running_as_booleans(book: Path) -> None:
    state = json.loads(tracker("status", "--json", "--db", str(book)).stdout)
    assert state["live"] is False and state["running"] is False and state["stalled"] is False


def test_status_names_the_venue_the_book_is_of(tmp_path: Path) -> None:
    """In the text, first under the verdict, and in --json; where no tracker has recorded
    it (a book from before schema 7 has no column for it yet) the text says so and --json
    gives null, never a missing field."""
    okx = tmp_path / "okx.db"
    write_book(okx, [order(1, "BTC-USDT")], live=0, status="stopped", venue="okx")
    text = tracker("status", "--db", str(okx)).stdout.splitlines()
    assert text[:3] == ["NOT LIVE: stopped", "  venue        okx", "  open orders  1"], text
    assert json.loads(tracker("status", "--json", "--db", str(okx)).stdout)["venue"] == "okx"
    older = tmp_path / "older.db"
    conn = sqlite3.connect(older)
    migrate.apply(conn, migrate.load()[:6])
    conn.close()
    text = tracker("status", "--db", str(older)).stdout.splitlines()
    assert text[1] == ("  venue        not recorded yet (its next tracker records it as it "
                       "starts)"), text
    assert json.loads(tracker("status", "--json", "--db", str(older)).stdout)["venue"] is None


def test_orders_include_filled_notional_in_every_format(book: Path) -> None:
    rows = json.loads(tracker("orders", "--format", "json", "--db", str(book)).stdout)
    assert len(rows) == BTC + ETH
    assert rows[0]["order_id"] == "900000" and rows[0]["filled_notional"] == "6000.05"
    assert rows[1]["filled_notional"] == "0"
    text = tracker("orders", "--format", "csv", "--db", str(book)).stdout
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [r["filled_notional"] for r in parsed[:3]] == ["6000.05", "0", "0"]
    table = tracker("orders", "--db", str(book)).stdout.splitlines()
    assert "filled_notional" in table[0].split()
    assert table[1].split()[7] == "6000.05"


def test_table_lines_end_without_spaces(book: Path) -> None:
    text = tracker("orders", "--db", str(book)).stdout
    assert text.endswith(f"\n{BTC + ETH} open orders\n")
    assert [line for line in text.splitlines() if line != line.rstrip()] == []


def test_a_symbol_is_upper_cased_and_an_unseen_one_is_named(book: Path) -> None:
    lower = tracker("orders", "--symbol", "eth_usdt", "--format", "json", "--db", str(book))
    assert lower.returncode == 0 and lower.stderr == ""
    assert len(json.loads(lower.stdout)) == ETH
    unseen = tracker("orders", "--symbol", "doge_usdt", "--db", str(book))
    assert unseen.returncode == 0 and unseen.stdout.endswith("\n0 open orders\n")
    assert unseen.stderr == ("tracker: the book has never held an order of DOGE_USDT (is it "
                             "one of the daemon's symbols?)\n")


def test_status_json_without_a_book_answers_in_json(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    done = tracker("status", "--json", "--db", str(missing))
    assert done.returncode == EX_UNAVAILABLE
    assert json.loads(done.stdout) == {
        "error": f"no book at {missing} (is the daemon configured with this db?)",
        "exit_code": EX_UNAVAILABLE}
    assert done.stderr.startswith(f"tracker: no book at {missing}")


def test_a_secret_file_that_is_not_text_is_one_line_and_exit_78(tmp_path: Path) -> None:
    """It was a traceback and exit 1 in every command that reads it."""
    key = tmp_path / "key"
    key.write_bytes(b"\xff\xfes3cret")
    env = clean_env() | {"TRACKER_API_KEY_FILE": str(key), "TRACKER_API_SECRET": "s",
                         "TRACKER_API_MEMO": "m", "TRACKER_SYMBOLS": "BTC_USDT",
                         "TRACKER_DB": str(tmp_path / "book.db")}
    done = subprocess.run([TRACKER, "run"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 78 and done.stderr.count("\n") == 1, done.stderr
    assert f"api_key: {key} is not UTF-8 text" in done.stderr and "s3cret" not in done.stderr
    password = tmp_path / "pw"
    password.write_bytes(b"\xff")
    done = subprocess.run([TRACKER, "status", "--db", "postgresql://u@127.0.0.1:1/d",
                           "--account", "a"], capture_output=True, text=True, timeout=60,
                          env=clean_env() | {"TRACKER_DB_PASSWORD_FILE": str(password)})
    assert done.returncode == 78 and "db_password: " in done.stderr, done.stderr


@pytest.mark.parametrize("since", ["9223372036854775808", "99999999999999999999"])
def test_watch_since_past_the_largest_seq_is_one_line_and_exit_78(book: Path,
                                                                  since: str) -> None:
    """An OverflowError's traceback on SQLite, a wait for ever on PostgreSQL."""
    done = tracker("watch", "--db", str(book), "--since", since)
    assert done.returncode == 78 and done.stderr.count("\n") == 1, done.stderr
    assert "--since: a seq from 0 to 9223372036854775807" in done.stderr


def test_the_help_names_both_books_and_describes_the_demo() -> None:
    top = tracker("--help")
    assert top.returncode == 0
    text = " ".join(top.stdout.split())
    assert "SQLite" in text and "PostgreSQL" in text, text
    demo = tracker("demo", "--help")
    # A description under the usage, not only the option list.
    described = " ".join(demo.stdout.split("options:")[0].split("\n\n", 1)[1].split())
    assert "Ctrl-C" in described and "exits 0" in described, demo.stdout


def test_what_the_exchange_did_not_say_is_shown_as_such_with_a_footnote(tmp_path: Path) -> None:
    """A v2 seed row carries no type and no filled_notional: the book holds NULL, never a
    guess, and the table shows `-` and says why (a blank before, beside others' `0`); JSON
    and CSV keep null and an empty field for programs."""
    seeded = OrderUpdate(order_id="900001", symbol="BTC_USDT", side="buy", state="new",
                         price=Decimal("60000.5"), size=Decimal("0.25"),
                         filled_size=Decimal("0"), source="seed_v2", type=None)
    db = tmp_path / "orders.db"
    write_book(db, [seeded, order(2, "BTC_USDT")])
    table = tracker("orders", "--db", str(db))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    header = lines[0].split()
    rows = {line.split()[0]: dict(zip(header, line.split(), strict=True))
            for line in lines[1:3]}
    assert (rows["900001"]["type"], rows["900001"]["filled_notional"]) == ("-", "-")
    assert (rows["900002"]["type"], rows["900002"]["filled_notional"]) == ("limit", "0")
    assert lines[3:] == ["2 open orders", "-: the exchange did not say (the seed that read the "
                         "order does not carry it; the order's next push fills it in)"]
    as_json = json.loads(tracker("orders", "--db", str(db), "--format", "json").stdout)
    assert [(r["type"], r["filled_notional"]) for r in as_json] == [(None, None),
                                                                     ("limit", "0")]
    # Once a push gave them, nothing is left to explain.
    write_book(db, [msgspec.structs.replace(seeded, source="push", type="limit",
                                            filled_notional=Decimal("0"))])
    again = tracker("orders", "--db", str(db)).stdout.splitlines()
    assert again[-1] == "2 open orders", again


WARNING = ("tracker: warning: --db holds a password, which every user of this host can read "
           "(ps, /proc/PID/cmdline): put it in ~/.pgpass, TRACKER_DB_PASSWORD_FILE or the "
           "systemd credential db_password\n")


@pytest.mark.parametrize("url", ["postgresql://u:s3cret-pw@127.0.0.1:1/db",
                                 "POSTGRES://u:s3cret-pw@127.0.0.1:1/db",
                                 "postgresql://u@127.0.0.1:1/db?password=s3cret-pw"])
def test_a_password_in_db_on_the_command_line_is_warned_of_once_never_shown(url: str) -> None:
    """argv is every local user's to read for as long as the process runs."""
    for args in (["orders", "--account", "a"], ["migrate"], ["status", "--account", "a"]):
        done = tracker(*args, "--db", url)
        assert done.stderr.startswith(WARNING) and done.stderr.count(WARNING) == 1, done.stderr
        assert done.returncode == 69 and "s3cret-pw" not in done.stderr + done.stdout


def test_no_warning_without_a_password_on_the_command_line(tmp_path: Path) -> None:
    """In the environment or the file (readable by the user alone) a password is not in argv;
    a URL without one, or an SQLite path, has nothing to warn of."""
    url = "postgresql://u:s3cret-pw@127.0.0.1:1/db"
    env = clean_env() | {"TRACKER_DB": url, "TRACKER_ACCOUNT": "a"}
    done = subprocess.run([TRACKER, "orders"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 69 and "warning" not in done.stderr, done.stderr
    for db in ("postgresql://u@127.0.0.1:1/db", str(tmp_path / "book.db")):
        done = tracker("orders", "--db", db, "--account", "a")
        assert "warning" not in done.stderr, done.stderr


def test_orders_give_each_orders_unified_symbol_in_json_and_csv(tmp_path: Path) -> None:
    """A program finds an order's market by its BASE/QUOTE; null where the market is not
    recorded. One account's table is of one venue and stays as it was."""
    db = tmp_path / "orders.db"
    write_book(db, [order(1, "BTC_USDT"), order(2, "ETH_USDT")],
               (("bitmart", "BTC_USDT", "BTC", "USDT"), ("binance", "ETHUSDT", "ETH", "USDT")),
               venue="bitmart")
    rows = json.loads(tracker("orders", "--db", str(db), "--format", "json").stdout)
    assert [(r["order_id"], r["symbol"], r["unified_symbol"]) for r in rows] == [
        ("900001", "BTC_USDT", "BTC/USDT"), ("900002", "ETH_USDT", None)]
    parsed = list(csv.DictReader(io.StringIO(
        tracker("orders", "--db", str(db), "--format", "csv").stdout)))
    assert [(r["symbol"], r["unified_symbol"]) for r in parsed] == [("BTC_USDT", "BTC/USDT"),
                                                                   ("ETH_USDT", "")]
    table = tracker("orders", "--db", str(db)).stdout.splitlines()
    assert table[0].split() == ["order_id", "symbol", "side", "type", "price", "size",
                                "filled_size", "filled_notional", "state"]
    assert table[-1] == "2 open orders"


def test_a_book_from_before_schema_8_is_read_with_no_unified_symbols(tmp_path: Path) -> None:
    """Installed before its daemon restarts (and migrates the book), this version reads a
    schema 7 book as it is: no market recorded, not an error."""
    db = tmp_path / "orders.db"
    conn = sqlite3.connect(db)
    migrate.apply(conn, migrate.load()[:7])
    conn.execute("INSERT INTO orders VALUES ('900001', 'BTC_USDT', 'buy', 'limit', '1', '2', "
                 "'0', '0', 'new', NULL, 1, 1, 'push', 0, 1, 1)")
    conn.commit()
    conn.close()
    done = tracker("orders", "--db", str(db), "--format", "json")
    assert (done.returncode, done.stderr) == (0, "")
    assert [(r["order_id"], r["unified_symbol"]) for r in json.loads(done.stdout)] == [
        ("900001", None)]
    assert tracker("orders", "--db", str(db)).stdout.splitlines()[-1] == "1 open orders"
