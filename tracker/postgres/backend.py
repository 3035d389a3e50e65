"""A PostgreSQL book as the commands use it: `tracker.backends.choose` gives this for a
`postgresql://` or `postgres://` URL.

psycopg is imported only once a command connects: an SQLite install has no use for it, and
a command that needs it says how to install it."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tracker import config
from tracker.config import Config
from tracker.migrate import StartupError
from tracker.postgres import migrate as schema
from tracker.postgres.readers import AccountBook, PostgresReader, driver

if TYPE_CHECKING:
    from tracker.storage import BookStore


@dataclass(frozen=True)
class Postgres:
    url: str
    password: str = field(default="", repr=False)  # empty: libpq's own (.pgpass, PGPASSWORD)
    # Trackers of one account on other hosts wait for its claim: a writer that lost the book
    # (cut off while one of them took over) waits as their standby in its turn.
    standbys = True

    @property
    def shown(self) -> str:
        return schema.shown(self.url)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (*schema.passwords(self.url), *([self.password] if self.password else []))

    def migrate(self) -> tuple[int, int]:
        return schema.migrate(self.url, self.password)

    async def open_store(self, config: Config,
                         standby: Callable[[str], None] | None = None,
                         unreachable: Callable[[str | None], None] | None = None
                         ) -> BookStore:
        driver()
        from tracker.postgres.store import PgStore

        return await PgStore.open(self.url, config.account, self.password,
                                  config.journal_keep_days, standby, unreachable)

    def unusable(self, exc: Exception) -> StartupError | None:
        psycopg = driver()  # present: the store opened with it
        if not isinstance(exc, psycopg.Error):
            return None
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return StartupError(os.EX_CANTCREAT, f"db: {self.shown}: this role lacks write "
                                                 f"rights on the book: "
                                                 f"{schema.said(exc, self.url)}")
        return StartupError(os.EX_UNAVAILABLE, f"db: cannot use {self.shown}: "
                                               f"{schema.said(exc, self.url)}")

    def reader(self, config_file: Path | None, env: Mapping[str, str], account: str | None,
               *, every: bool = False) -> PostgresReader:
        """One account, or every account, with the password `tracker run` uses too."""
        if every:
            return PostgresReader(AccountBook(self.url, None, self.password))
        name = config.account_of(config_file, env, account)
        if not name:
            raise config.ConfigError("account: missing; a PostgreSQL book is shared by "
                                     "accounts: set account (in the file, TRACKER_ACCOUNT "
                                     "or --account)")
        return PostgresReader(AccountBook(self.url, name, self.password))
