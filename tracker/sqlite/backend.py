"""An SQLite book as the commands use it: `tracker.backends.choose` gives this for a path.

The writer's modules (aiosqlite and the rest) are imported by the commands that write, so
that `tracker status` and `tracker healthcheck`, run every few seconds, load only the
readers."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from tracker.config import Config, ConfigError
from tracker.migrate import StartupError
from tracker.sqlite.readers import SqliteReader

if TYPE_CHECKING:
    from tracker.storage import BookStore


@dataclass(frozen=True)
class Sqlite:
    path: Path
    # One daemon per file: a book lost under it was deleted or replaced, and the daemon
    # exits for its supervisor to start it on the file now at the path.
    standbys = False
    secrets: ClassVar[tuple[str, ...]] = ()  # a path holds none

    @property
    def shown(self) -> str:
        return str(self.path)

    def migrate(self) -> tuple[int, int]:
        from tracker.sqlite.migrate import schema_version
        from tracker.sqlite.store import connect_migrated

        before = schema_version(self.path)
        connect_migrated(self.path)
        return before, schema_version(self.path)

    async def open_store(self, config: Config,
                         standby: Callable[[str], None] | None = None,
                         unreachable: Callable[[str | None], None] | None = None
                         ) -> BookStore:
        from tracker.sqlite.store import Store

        return await Store.open(self.path, config.journal_keep_days)

    def unusable(self, exc: Exception) -> StartupError | None:
        if not isinstance(exc, sqlite3.Error | OSError):
            return None
        from tracker.sqlite.store import unusable

        return unusable(self.path, exc)

    def reader(self, config_file: Path | None, env: Mapping[str, str], account: str | None,
               *, every: bool = False) -> SqliteReader:
        if every:
            raise ConfigError("--all-accounts: an SQLite book holds one account; a "
                              "PostgreSQL db holds many")
        if account:
            raise ConfigError(f"account: {account!r} is set, but db is an SQLite file, "
                              "which holds one account: set db to a PostgreSQL URL, or "
                              "unset account")
        return SqliteReader(self.path)
