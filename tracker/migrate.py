"""Forward-only schema migrations from `migrations/NNNN_name.sql`, recorded in
`PRAGMA user_version`: no extra tables in a database other people read."""

from __future__ import annotations

import re
import sqlite3
from importlib import resources
from pathlib import Path

NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


class MigrationError(Exception):
    pass


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
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    latest = migrations[-1][0] if migrations else 0
    if current > latest:
        raise MigrationError(f"the database is at schema {current}, newer than this "
                             f"tracker's {latest}: upgrade the tracker")
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
