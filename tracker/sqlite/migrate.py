"""Forward-only schema migrations of an SQLite book, from `migrations/NNNN_name.sql`,
recorded in `PRAGMA user_version`: no extra tables in a database other people read."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from tracker.codec import amount_text
from tracker.migrate import MigrationError, load


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


def schema_version(path: Path) -> int:
    """0 for no book yet; a file that cannot be one is refused by the migration, which
    says why."""
    if not path.is_file():
        return 0
    try:
        conn = sqlite3.connect(path)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
