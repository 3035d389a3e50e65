"""Read-only views of one account of a PostgreSQL book, for the commands
`tracker.sqlite.readers` serves from an SQLite file: the same rows in the same shapes, so a
script reading `tracker orders --format json` or `tracker status --json` need not know which
backend is behind it.

Every read is one short READ ONLY, REPEATABLE READ transaction: all its statements see the
same commit, so a count agrees with the rows and the state beside it. The one-shot commands
close their connection straight after; `tracker watch` keeps one, to LISTEN on it, and holds
no transaction open between its reads. psycopg is imported only when a PostgreSQL book is
read (`driver`): an SQLite install has no use for it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from tracker import config, readers
from tracker.migrate import StartupError
from tracker.postgres import migrate

if TYPE_CHECKING:
    import psycopg

# libpq waits for an unreachable host as long as TCP does (minutes): a health check and a
# status have to answer sooner. A URL's own connect_timeout, or PGCONNECT_TIMEOUT, wins.
CONNECT_TIMEOUT = 5
# A watcher's connection lives for hours: keepalives notice a network cut in seconds, as the
# writer's do, rather than after TCP's retransmissions give up. A URL's own settings win.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
              "keepalives_count": 3, "tcp_user_timeout": 15_000}
# How often a wait for a notification looks whether it should stop (a signal, a reader that
# went away): as often as the SQLite watcher polls.
WAKE_CHECK_SECONDS = 0.2
# The writer's NOTIFY wakes the watcher; a timed read this often only bounds how late a
# lost notification makes a change.
FALLBACK_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 5.0  # the longest back-off between two connection attempts
# Open orders as the SQLite readers sort them: NULLs first and text by its bytes (SQLite's
# BINARY collation), whatever the database's own collation.
ORDER_BY = ' ORDER BY symbol COLLATE "C", created_at NULLS FIRST, order_id COLLATE "C"'
# The tracker's pid in its connection's name, "tracker ACCOUNT pid N on HOST" (its
# store's application_name).
NAMED_PID = re.compile(r" pid (\d+) on ")
NAMED = 20  # accounts named at most when a reader's account is not among them
T = TypeVar("T")


@dataclass(frozen=True)
class AccountBook:
    """One account of a PostgreSQL database, and the password from the tracker's own secret
    sources (empty: libpq's, the URL, .pgpass or PGPASSWORD)."""

    url: str
    account: str | None  # None: every account (`tracker orders --all-accounts`)
    password: str = field(default="", repr=False)

    @property
    def where(self) -> str:
        return migrate.shown(self.url)

    def said(self, exc: BaseException) -> str:
        """The driver's words without any password, the URL's or the secret's."""
        text = migrate.said(exc, self.url)
        return text.replace(self.password, "***") if self.password else text


@dataclass(frozen=True)
class PostgresReader:
    """One account (or every account) of a PostgreSQL book, as the read-only commands ask
    it."""

    book: AccountBook

    def open_orders(self, symbol: str | None) -> tuple[list[dict[str, Any]], bool]:
        return open_orders(self.book, symbol)

    def every_account(self, symbol: str | None) -> tuple[
            list[dict[str, Any]], bool, dict[str, dict[str, Any]]]:
        return every_account(self.book, symbol)

    def status(self) -> dict[str, Any]:
        return status(self.book)

    def follower(self) -> Listener:
        return Listener(self.book)


def driver() -> ModuleType:
    """psycopg, or the line `tracker migrate` says when it is not installed."""
    try:
        import psycopg
    except ImportError:
        raise StartupError(os.EX_CONFIG, "db: a PostgreSQL book needs the driver: pip install "
                                         "'open-order-tracker[postgres]'") from None
    return psycopg


def connect(book: AccountBook, *, lasting: bool = False) -> psycopg.Connection[dict[str, Any]]:
    """A connection whose every transaction is READ ONLY and REPEATABLE READ; `lasting`
    for one that stays open (keepalives). An unreachable server, a refused password, an
    unknown database: Unavailable, as an unreadable SQLite file is."""
    pg = driver()
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.rows import dict_row

    try:
        given = conninfo_to_dict(book.url)
    except pg.ProgrammingError as exc:
        raise _not_a_url(book, exc) from None
    defaults: dict[str, Any] = dict(KEEPALIVES) if lasting else {}
    if not os.environ.get("PGCONNECT_TIMEOUT"):
        defaults["connect_timeout"] = CONNECT_TIMEOUT
    kwargs = {k: v for k, v in defaults.items() if k not in given}
    if book.password:
        kwargs["password"] = book.password
    try:
        conn = pg.connect(book.url, autocommit=True, row_factory=dict_row,
                          fallback_application_name="tracker", **kwargs)
    except pg.ProgrammingError as exc:
        raise _not_a_url(book, exc) from None
    except pg.Error as exc:
        raise readers.Unavailable(f"cannot connect to {book.where}: {book.said(exc)}") from None
    # Not in a transaction yet: both apply to every `conn.transaction()` from here on.
    conn.isolation_level = pg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def _not_a_url(book: AccountBook, exc: BaseException) -> config.ConfigError:
    return config.ConfigError(f"db: {book.where}: not a PostgreSQL URL libpq can read: "
                              f"{book.said(exc)}")


def read(book: AccountBook, query: Callable[[psycopg.Connection[dict[str, Any]]], T]) -> T:
    """Run `query` in one read transaction on a connection closed straight after."""
    conn = connect(book)
    try:
        return transaction(conn, book, query)
    finally:
        conn.close()


def transaction(conn: psycopg.Connection[dict[str, Any]], book: AccountBook,
                query: Callable[[psycopg.Connection[dict[str, Any]]], T]) -> T:
    pg = driver()
    try:
        with conn.transaction():
            return query(conn)
    except pg.errors.UndefinedTable:
        raise readers.Unavailable(f"no book in {book.where} (is the daemon configured with "
                                  "this db? `tracker migrate` makes one)") from None
    except pg.Error as exc:
        raise readers.Unavailable(f"cannot read {book.where}: {book.said(exc)}") from None


def open_orders(book: AccountBook, symbol: str | None = None) -> tuple[list[dict[str, Any]], bool]:
    """The account's open orders (of `symbol`), and whether the account ever held an order
    of `symbol`, open or not (always True without one), from one read. A AccountBook of every
    account gives every account's, each row with its `account`, in account order."""
    return read(book, functools.partial(_open_orders, book, symbol))


def _open_orders(book: AccountBook, symbol: str | None,
                 conn: psycopg.Connection[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    where = ["account = %s"] if book.account is not None else []
    args: list[str] = [book.account] if book.account is not None else []
    if symbol:
        where.append("symbol = %s")
        args.append(symbol)
    lead = "" if book.account is not None else "account, "
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {lead}{order_columns(conn)} FROM open_orders{clause}"
    order = ORDER_BY if book.account is not None else ORDER_BY.replace(
        " ORDER BY ", ' ORDER BY account COLLATE "C", ', 1)
    if book.account is not None and conn.execute(
            "SELECT 1 FROM sync_state WHERE account = %s", (book.account,)).fetchone() is None:
        raise unwritten(conn, book)
    rows = conn.execute(sql + order, args).fetchall()
    seen = bool(rows) or not symbol or conn.execute(
        f"SELECT 1 FROM orders{clause} LIMIT 1", args).fetchone() is not None
    return rows, seen


def order_columns(conn: psycopg.Connection[dict[str, Any]]) -> str:
    """`readers.ORDER_FIELDS` as the book's schema has them."""
    schema = conn.execute(migrate.CURRENT_VERSION).fetchone()
    return readers.order_columns(schema["v"] if schema else 0)


def every_account(book: AccountBook, symbol: str | None) -> tuple[
        list[dict[str, Any]], bool, dict[str, dict[str, Any]]]:
    """`open_orders` of every account, and every account's state judged as `status` judges
    one account's, from one read: which accounts' rows are current."""

    def query(conn: psycopg.Connection[dict[str, Any]]) -> tuple[
            list[dict[str, Any]], bool, dict[str, dict[str, Any]]]:
        rows, seen = _open_orders(book, symbol, conn)
        now = server_now(conn)
        counts = {r["account"]: r["n"] for r in conn.execute(
            "SELECT account, count(*) AS n FROM open_orders GROUP BY account")}
        schema = conn.execute(migrate.CURRENT_VERSION).fetchone()
        assert schema is not None
        states = {}
        for row in conn.execute('SELECT * FROM sync_state ORDER BY account COLLATE "C"'
                                ).fetchall():
            trackers = lockers(conn, row["account"])
            states[row["account"]] = readers.judged(dict(row) | {
                "open_orders": counts.get(row["account"], 0), "schema": schema["v"],
                "trackers": trackers}, now, held=holds(trackers))
        return rows, seen, states

    return read(book, query)


def server_now(conn: psycopg.Connection[dict[str, Any]]) -> int:
    """The server's clock, which the writer stamps `heartbeat_at` with, in ms: a heartbeat's
    age does not depend on any tracker's or reader's clock."""
    row = conn.execute(f"SELECT {migrate.NOW_MS} AS now").fetchone()
    assert row is not None
    return int(row["now"])


def unwritten(conn: psycopg.Connection[dict[str, Any]], book: AccountBook) -> readers.Unavailable:
    """What an account no tracker has written is (its tracker makes its `sync_state` row
    when it first starts): Unavailable, as a missing SQLite file is, since a mistyped
    account would otherwise read as an empty book. The accounts there are named, to spot
    the typo."""
    names = [r["account"] for r in conn.execute(
        f'SELECT account FROM sync_state ORDER BY account COLLATE "C" LIMIT {NAMED + 1}')]
    there = (f"accounts there: {', '.join(names[:NAMED])}{', ...' if len(names) > NAMED else ''}"
             if names else "no tracker has written any account there yet")
    return readers.Unavailable(f"no tracker has written account {book.account!r} in "
                               f"{book.where} ({there}; is the account mistyped, or has its "
                               "tracker not started yet?)")


def lockers(conn: psycopg.Connection[dict[str, Any]], account: str) -> list[dict[str, Any]]:
    """Who holds the account and who waits for it, as the server knows them now: the truth
    about every tracker of the account, from whichever host asks. `hidden`: the server
    keeps another role's connection time and address from this role (a client backend
    always has a start time where it may be seen)."""
    return [{"role": "active" if r["granted"] else "standby", "name": r["name"],
             "addr": r["addr"], "since": r["since"], "since_iso": readers.iso(r["since"]),
             "hidden": r["since"] is None}
            for r in conn.execute(migrate.LOCKERS, (account,)).fetchall()]


def holds(trackers: list[dict[str, Any]]) -> bool:
    return any(t["role"] == "active" for t in trackers)


def status(book: AccountBook) -> dict[str, Any]:
    """The account's `sync_state` row, its open-order count and the schema version from one
    read, judged as an SQLite book's is, by the server's clock."""

    def query(conn: psycopg.Connection[dict[str, Any]]) -> dict[str, Any]:
        now = server_now(conn)
        row = conn.execute("SELECT * FROM sync_state WHERE account = %s",
                           (book.account,)).fetchone()
        if row is None:
            raise unwritten(conn, book)
        count = conn.execute("SELECT count(*) AS n FROM open_orders WHERE account = %s",
                             (book.account,)).fetchone()
        schema = conn.execute(migrate.CURRENT_VERSION).fetchone()
        assert count is not None and schema is not None  # aggregates always give a row
        trackers = lockers(conn, book.account)
        for tracker in trackers:
            # The active's term as the writer began when it first wrote the book, where the
            # pid in its name is the book's writer's (a standby that took over connected
            # long before).
            found = NAMED_PID.search(tracker["name"] or "")
            if (tracker["role"] == "active" and found and row["pid"] is not None
                    and int(found.group(1)) == row["pid"]):
                tracker["writing_since"] = row["started_at"]
                tracker["writing_since_iso"] = readers.iso(row["started_at"])
        return readers.judged(dict(row) | {"open_orders": count["n"], "schema": schema["v"],
                                           "trackers": trackers}, now, held=holds(trackers))

    return read(book, query)


@dataclass
class PostgresJournal:
    """`tracker watch`'s questions about one account's journal, inside one read."""

    conn: psycopg.Connection[dict[str, Any]]
    book: AccountBook

    @property
    def account(self) -> str:
        assert self.book.account is not None  # a watcher reads one account
        return self.book.account

    def book_id(self) -> str:
        """Unavailable for an account no tracker has written: the watcher says so once
        and waits for it, as for a missing SQLite book."""
        row = self.conn.execute("SELECT book_id FROM sync_state WHERE account = %s",
                                (self.account,)).fetchone()
        if row is None:
            raise unwritten(self.conn, self.book)
        return str(row["book_id"])

    def bounds(self) -> tuple[int | None, int]:
        """The lowest seq kept and the highest used: retention always keeps the newest row,
        so the highest is in the journal (SQLite needs sqlite_sequence for it)."""
        row = self.conn.execute("SELECT min(seq) AS low, max(seq) AS high FROM order_events "
                                "WHERE account = %s", (self.account,)).fetchone()
        assert row is not None
        return row["low"], row["high"] or 0

    def changes(self, last: int, limit: int) -> list[dict[str, Any]]:
        """The rows as SQLite's `e.*, o.symbol` gives them: the account is the watcher's
        own, said once by the command line, not on every line."""
        rows = self.conn.execute(
            "SELECT e.*, o.symbol FROM order_events e LEFT JOIN orders o "
            "ON o.account = e.account AND o.order_id = e.order_id "
            "WHERE e.account = %s AND e.seq > %s ORDER BY e.seq LIMIT %s",
            (self.account, last, limit)).fetchall()
        return [{k: v for k, v in row.items() if k != "account"} for row in rows]

    def open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        sql = f"SELECT {order_columns(self.conn)} FROM open_orders WHERE account = %s"
        args: tuple[str, ...] = (self.account,)
        if symbol is not None:
            sql, args = sql + " AND symbol = %s", (self.account, symbol)
        return self.conn.execute(sql + ORDER_BY, args).fetchall()


class Listener:
    """`tracker watch`'s connection: it LISTENs on the writer's channel, so that a commit of
    its account wakes it at once, and reads the journal in short transactions between waits.
    A notification can be lost (a reconnect in between): the timed wait only delays the
    rows, which the next read finds by seq. A connection that failed is opened again at the
    next read, after the caller's back-off (up to retry_max)."""

    retry_max = RECONNECT_MAX_SECONDS

    def __init__(self, book: AccountBook) -> None:
        driver()  # a missing driver is a mistake to name, not a book to wait for
        self.book = book
        self.conn: psycopg.Connection[dict[str, Any]] | None = None

    def _open(self) -> psycopg.Connection[dict[str, Any]]:
        """Listening before the first read: a commit after that read cannot go unheard."""
        pg = driver()
        conn = connect(self.book, lasting=True)
        try:
            conn.execute(f"LISTEN {migrate.CHANNEL}")
        except pg.Error as exc:
            conn.close()
            raise readers.Unavailable(f"cannot listen on {self.book.where}: "
                                      f"{self.book.said(exc)}") from None
        return conn

    def read(self, query: Callable[[PostgresJournal], T]) -> T:
        if self.conn is None:
            self.conn = self._open()
        return transaction(self.conn, self.book,
                           lambda conn: query(PostgresJournal(conn, self.book)))

    def wait(self, interrupted: Callable[[], bool]) -> bool:
        """Until a commit of this account is announced (True), FALLBACK_SECONDS pass or
        `interrupted()` says to stop (False). Other accounts' notifications are ignored."""
        assert self.conn is not None  # a wait follows a read
        pg = driver()
        deadline = time.monotonic() + FALLBACK_SECONDS
        try:
            while not interrupted():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                with contextlib.closing(self.conn.notifies(
                        timeout=min(WAKE_CHECK_SECONDS, left))) as notes:
                    if any(self._ours(note.channel, note.payload) for note in notes):
                        return True
        except pg.Error as exc:
            raise readers.Unavailable(f"lost the connection to {self.book.where}: "
                                      f"{self.book.said(exc)}") from None
        return False

    def _ours(self, channel: str, payload: str) -> bool:
        """A payload that is not the writer's form wakes the reader too: a needless read
        costs less than a missed one."""
        if channel != migrate.CHANNEL:
            return False
        try:
            said = json.loads(payload)
        except ValueError:
            return True
        return not isinstance(said, dict) or said.get("account") == self.book.account

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
