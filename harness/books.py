"""Where a daemon under test keeps its book, and how a test reads it back: an SQLite file or
an account in a PostgreSQL database. Both read the same contract, so one test body checks
either backend (`BookView` and journal rows look alike; PostgreSQL's carry `account`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.postgres import Database
from harness.truth import BookView, journal, read_book


class BookUnderTest(Protocol):
    """A daemon's book as a test sees it."""

    def env(self) -> dict[str, str]:
        """The daemon's TRACKER_* settings that point it here."""

    def reader_args(self) -> list[str]:
        """`tracker orders|status|watch` arguments that read it."""

    def reader_env(self) -> dict[str, str]:
        """What a reader's environment needs beside them: a password stays out of argv."""

    def read(self) -> BookView: ...

    def journal(self, order_id: str | None = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class SqliteBook:
    path: Path

    def env(self) -> dict[str, str]:
        return {"TRACKER_DB": str(self.path)}

    def reader_args(self) -> list[str]:
        return ["--db", str(self.path)]

    def reader_env(self) -> dict[str, str]:
        return {}

    def read(self) -> BookView:
        return read_book(self.path)

    def journal(self, order_id: str | None = None) -> list[dict[str, Any]]:
        return journal(self.path, order_id)


@dataclass(frozen=True)
class PostgresBook:
    """One account of a PostgreSQL database; the password reaches the daemon as a file-less
    secret would (TRACKER_DB_PASSWORD), never in the URL."""

    database: Database
    account: str = "main"

    def env(self) -> dict[str, str]:
        return {"TRACKER_DB": self.database.url(password=False),
                "TRACKER_DB_PASSWORD": self.database.password, "TRACKER_ACCOUNT": self.account}

    def reader_args(self) -> list[str]:
        return ["--db", self.database.url(password=False), "--account", self.account]

    def reader_env(self) -> dict[str, str]:
        return {"TRACKER_DB_PASSWORD": self.database.password}

    def read_url(self) -> str:
        """Whom a test reads as: the database's owner, unless a reader's role is tried."""
        return self.database.url()

    def _query(self, *statements: tuple[str, tuple[Any, ...]]) -> list[list[dict[str, Any]]]:
        import psycopg
        from psycopg.rows import dict_row

        try:
            with psycopg.connect(self.read_url(), row_factory=dict_row,
                                 connect_timeout=5) as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                return [conn.execute(sql, args).fetchall() for sql, args in statements]
        except psycopg.OperationalError as exc:  # the server is down, or restarting
            raise AssertionError(f"the book is not readable now: {exc}") from None
        except psycopg.errors.UndefinedTable as exc:  # not migrated yet: as if absent
            raise AssertionError(f"the book is not there yet: {exc}") from None

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """One read-only statement as the book's owner, for what a test checks beyond the
        book's rows: the server's sessions and locks, the catalog."""
        return self._query((sql, args))[0]

    def read(self) -> BookView:
        """One snapshot (one repeatable-read transaction) of the account's rows."""
        orders, open_ids, state = self._query(
            ("SELECT * FROM orders WHERE account = %s", (self.account,)),
            ("SELECT order_id FROM open_orders WHERE account = %s", (self.account,)),
            ("SELECT * FROM sync_state WHERE account = %s", (self.account,)))
        assert state, f"no sync_state row for {self.account} yet"
        return BookView({r["order_id"]: r for r in orders}, {r["order_id"] for r in open_ids},
                        state[0])

    def journal(self, order_id: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM order_events WHERE account = %s", (self.account,)
        if order_id is not None:
            sql, args = sql + " AND order_id = %s", (self.account, order_id)
        return self._query((sql + " ORDER BY seq", args))[0]
