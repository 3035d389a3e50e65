"""Forward-only schema migrations from `migrations/NNNN_name.sql`, recorded in
`PRAGMA user_version`: no extra tables in a database other people read."""

from __future__ import annotations

import os
import re
import sqlite3
from decimal import Decimal
from importlib import resources
from pathlib import Path

from tracker.codec import amount_text

NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


class StartupError(Exception):
    """Why the daemon cannot start, as one line, with the sysexits code it exits with: 69
    unavailable, 73 cannot create or write, 74 I/O, 75 busy, 78 configuration (systemd does
    not restart 78: a restart cannot fix it)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class MigrationError(StartupError):
    """The schema cannot be brought up to date: only a person can fix that."""

    def __init__(self, message: str) -> None:
        super().__init__(os.EX_CONFIG, message)


def migrations_dir() -> Path:
    """Installed beside the package (wheel data) or at the top of a source checkout."""
    packaged = resources.files("tracker") / "migrations"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "migrations"


def load(directory: Path | None = None) -> list[tuple[int, str]]:
    directory = directory or migrations_dir()
    found = sorted((int(m.group(1)), p) for p in directory.iterdir()
                   if (m := NAME.fullmatch(p.name)))
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise MigrationError(f"migrations in {directory} are not numbered 1..N: {numbers}")
    return [(n, p.read_text()) for n, p in found]


def apply(conn: sqlite3.Connection, migrations: list[tuple[int, str]] | None = None) -> int:
    """Bring the schema up to date; each file and its version bump commit together."""
    migrations = load() if migrations is None else migrations
    conn.isolation_level = None
    # Rewriting exact decimals needs Decimal: SQLite's own arithmetic is binary floating point.
    conn.create_function("positional", 1, _positional, deterministic=True)
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    latest = migrations[-1][0] if migrations else 0
    if current > latest:
        raise MigrationError(f"the database is at schema {current}, newer than this "
                             f"tracker's {latest}: upgrade the tracker")
    foreign(conn, current)
    for version, sql in migrations:
        if version <= current:
            continue
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version={version};\n"
                               "COMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        current = version
    return current


def _positional(text: str | None) -> str | None:
    return None if text is None else amount_text(Decimal(text))


def foreign(conn: sqlite3.Connection, version: int) -> None:
    """Refuse another program's database: migrating it would fail halfway through (a
    table of the same name) or, worse, succeed and mix two schemas in one file."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")]
    if (version == 0 and names) or (version > 0 and "sync_state" not in names):
        raise MigrationError(f"not a tracker book (schema version {version}, tables: "
                             f"{', '.join(names[:5]) or 'none'}): point db at another file, "
                             "or move this one away")
