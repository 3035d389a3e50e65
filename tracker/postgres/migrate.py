"""Forward-only schema migrations of a book in PostgreSQL, from
`migrations/postgres/NNNN_name.sql` (numbered as SQLite's are, so a schema version means one
contract on both backends), each in its own transaction under an advisory lock.

PostgreSQL has no `PRAGMA user_version`: the versions applied are rows of `tracker_schema`,
beside the book in the schema it is made in (the first of `search_path` that exists).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tracker.migrate import MigrationError, StartupError, load, migrations_dir

if TYPE_CHECKING:
    import psycopg

# Taken by every tracker that migrates, for one transaction at a time: the ASCII of
# "tracker" as one bigint key. A second `tracker migrate` waits, then finds the work done.
LOCK = int.from_bytes(b"tracker", "big")
CONTRACT = ("open_orders", "order_events", "orders", "sync_state")
# The change feed, part of the contract: the writer NOTIFYs here once per committed batch,
# `{"account": ..., "seq": N}` with the highest seq the account's journal then holds.
CHANNEL = "tracker_book"
# One tracker writes each account, holding this advisory lock (a 64-bit hash of the
# account's name, computed by the server so that every tool, psql included, finds it) on the
# connection it writes with; standbys wait for it.
LOCK_KEY = "hashtextextended('tracker account ' || %s, 0)"
# The account's lock in pg_locks, which shows a 64-bit key as classid (high half) and objid
# (low half); `k.key` is LOCK_KEY.
_THE_LOCK = ("l.locktype = 'advisory' AND l.objsubid = 1 "
             "AND l.classid::bigint = (k.key >> 32) & 4294967295 "
             "AND l.objid::bigint = k.key & 4294967295")
# The account's lock as the server sees it: the holder (granted) first, then the trackers
# waiting for it, each named by its connection's application_name ("tracker ACCOUNT pid N
# on HOST"), with its server backend's pid (what pg_terminate_backend takes).
LOCKERS = (
    f"WITH k AS (SELECT {LOCK_KEY} AS key) "
    "SELECT l.pid, l.granted, a.application_name AS name, a.client_addr::text AS addr, "
    "(extract(epoch FROM a.backend_start) * 1000)::bigint AS since "
    f"FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid, k WHERE {_THE_LOCK} "
    "ORDER BY l.granted DESC, a.backend_start")
# True only on the connection that holds the account's lock. The writer asks it inside every
# batch's transaction, in the statement that ends it, so a batch from a connection without
# the lock rolls back whole (fencing that does not rest on any argument about sessions).
HOLDS_LOCK = (f"EXISTS (SELECT 1 FROM pg_locks l, (SELECT {LOCK_KEY} AS key) k "
              f"WHERE {_THE_LOCK} AND l.granted AND l.pid = pg_backend_pid())")
# One row per version applied, with its time: the schema's history, readable with psql.
VERSIONS = """CREATE TABLE tracker_schema (
    version    INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""
# libpq's reading of a URL's user info: up to the first '@' before any '/', the user up to
# the first ':'.
USERINFO = re.compile(r"(?P<scheme>postgres(?:ql)?://)(?P<user>[^@/:]*)"
                      r"(?::(?P<password>[^@/]*))?@")


def directory() -> Path:
    return migrations_dir() / "postgres"


def shown(url: str) -> str:
    """The URL without its password, as every message names it: terminals, journals and CI
    logs are read by more people than the database's owners."""
    url = USERINFO.sub(r"\g<scheme>\g<user>@", url, count=1)
    base, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p and unquote(p.partition("=")[0]) != "password"]
    return f"{base}?{'&'.join(kept)}" if kept else base


def passwords(url: str) -> list[str]:
    """The passwords written in `url` (its user info, or `password=` in its query), as
    written and decoded: what no message may show."""
    match = USERINFO.match(url)
    found = [match["password"]] if match and match["password"] else []
    found += [v for k, _, v in (p.partition("=") for p in url.partition("?")[2].split("&"))
              if unquote(k) == "password" and v]
    return sorted({form for s in found for form in (s, unquote(s))}, key=len, reverse=True)


def said(exc: BaseException, url: str) -> str:
    """The driver's message on one line, without the password even where libpq quotes the
    part of the URL it could not read."""
    text = str(exc)
    for secret in passwords(url):
        text = text.replace(secret, "***")
    return " ".join(text.split())


def migrate(url: str, password: str = "") -> tuple[int, int]:
    """Connect to `url` (libpq's: .pgpass, PGPASSWORD, sslmode and several hosts work as in
    psql; `password`, when given, from the tracker's own secret sources) and bring the
    schema up to date: the version before and after. Every failure is a StartupError of one
    line, without the password."""
    try:
        import psycopg  # an optional extra: an SQLite install has no use for it
    except ImportError:
        raise StartupError(os.EX_CONFIG, "db: a PostgreSQL book needs the driver: pip install "
                                         "'open-order-tracker[postgres]'") from None
    where = shown(url)
    try:
        conn = psycopg.connect(url, autocommit=True, fallback_application_name="tracker",
                               **({"password": password} if password else {}))
    except psycopg.ProgrammingError as exc:  # libpq could not read the URL
        raise StartupError(os.EX_CONFIG, f"db: {where}: not a PostgreSQL URL libpq can read: "
                                         f"{said(exc, url)}") from None
    except psycopg.Error as exc:
        raise StartupError(os.EX_UNAVAILABLE, f"db: cannot connect to {where}: "
                                              f"{said(exc, url)}") from None
    try:
        with conn:
            return apply(conn)
    except MigrationError as exc:
        raise StartupError(exc.code, f"db: {where}: {exc}") from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StartupError(os.EX_CANTCREAT, f"db: {where}: cannot create the book there: "
                                            f"{said(exc, url)}") from None
    except psycopg.OperationalError as exc:
        raise StartupError(os.EX_UNAVAILABLE, f"db: lost the connection to {where}: "
                                              f"{said(exc, url)}") from None
    except psycopg.Error as exc:
        raise StartupError(os.EX_IOERR, f"db: cannot use {where}: {said(exc, url)}") from None


def apply(conn: psycopg.Connection[Any],
          migrations: list[tuple[int, str]] | None = None) -> tuple[int, int]:
    """Bring the schema up to date, one migration per transaction, each with its version row
    and under the lock: a migration that fails leaves the schema at the version before it."""
    migrations = load(directory()) if migrations is None else migrations
    latest = migrations[-1][0] if migrations else 0
    before: int | None = None
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
            names = tables(conn)
            current = version(conn) if "tracker_schema" in names else 0
            before = current if before is None else before
            if current > latest:
                raise MigrationError(f"the database is at schema {current}, newer than this "
                                     f"tracker's {latest}: upgrade the tracker")
            foreign(names, current)
            if current == latest:
                return before, current
            number, sql = migrations[current]
            if "tracker_schema" not in names:
                conn.execute(VERSIONS)
            conn.execute(sql)
            conn.execute("INSERT INTO tracker_schema (version) VALUES (%s)", (number,))


def tables(conn: psycopg.Connection[Any]) -> set[str]:
    """Tables and views of the schema the book is made in."""
    schema = conn.execute("SELECT current_schema()").fetchone()
    if schema is None or schema[0] is None:
        raise MigrationError("no schema to make the book in: none of search_path exists "
                             "(create one, or name one with options=-csearch_path%3DNAME)")
    rows = conn.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                        "AND c.relkind IN ('r', 'p', 'v', 'm', 'f')").fetchall()
    return {str(r[0]) for r in rows}


def version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM tracker_schema").fetchone()
    return int(row[0]) if row else 0


def foreign(names: set[str], version: int) -> None:
    """Refuse a schema that holds another program's tables of the book's names: migrating
    would fail on the first, or worse, mix two programs' rows in one table. Other tables
    beside the book are theirs to keep (a schema is often shared)."""
    clash = sorted(names.intersection(CONTRACT))
    if (version == 0 and clash) or (version > 0 and "sync_state" not in names):
        raise MigrationError(f"not a tracker book (schema version {version}, tables: "
                             f"{', '.join(clash) or 'none of the book'}): point db at another "
                             "database, or at another schema with options=-csearch_path%3DNAME")
