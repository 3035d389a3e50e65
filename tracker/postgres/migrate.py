"""Forward-only schema migrations of a book in PostgreSQL, from
`migrations/postgres/NNNN_name.sql` (numbered as SQLite's are, so a schema version means one
contract on both backends), each in its own transaction under an EXCLUSIVE lock on
`tracker_schema`: a lock only a role that may write the book can take, so a reader's role
cannot hold every migration (and every start that needs one) back.

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
    from collections.abc import Callable

    import psycopg

CONTRACT = ("markets", "open_orders", "order_events", "orders", "sync_state")
# The change feed, part of the contract: the writer NOTIFYs here once per committed batch,
# `{"account": ..., "seq": N}` with the highest seq the account's journal then holds.
CHANNEL = "tracker_book"
# The server's clock in ms since the epoch, as SQL: what the writer stamps `heartbeat_at`
# with and what readers measure its age by, so that no host's clock decides either.
NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
# How long a migration waits for a lock (the migrations' own, or a table a reader's open
# transaction is reading) before it gives up, unless the connection sets its own
# lock_timeout (`options=-c%20lock_timeout%3D5s` in the URL).
LOCK_WAIT = "30s"
# One tracker writes each account: it claims it with an EXCLUSIVE lock on a view of its own,
# `tracker_claim_` and 16 hex digits of the SHA-256 of the account's name (made by its first
# tracker), held in a transaction left open on a connection kept for it. Locking a table in
# any mode that excludes another locker needs UPDATE, DELETE or TRUNCATE on it, which a
# reader's role lacks: a reader cannot hold the claim, queue for it, or keep a tracker
# waiting (an advisory lock, which any role may take, could). The view has no rows and no
# base table: VACUUM and ANALYZE pass it by, and a transaction holding only a lock has no
# xid and no snapshot, so it holds nothing back.
CLAIM_PREFIX = "tracker_claim_"
# The claim's relation, computed by the server from the account's name so that every tool,
# psql included, finds it; NULL before the account's first tracker made it.
CLAIM = ("to_regclass(quote_ident('tracker_claim_' || "
         "left(encode(sha256(convert_to(%s, 'UTF8')), 'hex'), 16)))")
_CLAIMED = ("l.locktype = 'relation' AND l.mode = 'ExclusiveLock' AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())")
# The account's claim as the server sees it: the holder (granted) first, then the trackers
# waiting for it, each named by its connection's application_name ("tracker ACCOUNT pid N
# on HOST"), with its server backend's pid (what pg_terminate_backend takes).
LOCKERS = (
    f"WITH k AS (SELECT {CLAIM} AS rel) "
    "SELECT l.pid, l.granted, a.application_name AS name, a.client_addr::text AS addr, "
    "(extract(epoch FROM a.backend_start) * 1000)::bigint AS since "
    f"FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid, k "
    f"WHERE l.relation = k.rel AND {_CLAIMED} ORDER BY l.granted DESC, a.backend_start")
# True only while the backend given (the writer's claim connection, %s after the claim's
# oid) holds the claim. The writer asks it inside every batch's transaction, in the
# statement that ends it, so a batch written while the claim is not held rolls back whole.
HOLDS_CLAIM = (f"EXISTS (SELECT 1 FROM pg_locks l WHERE l.relation = %s AND l.pid = %s "
               f"AND l.granted AND {_CLAIMED})")
# Sessions holding a lock a migration may wait for: any lock on the book's tables (DDL takes
# ACCESS EXCLUSIVE), any but a reader's ACCESS SHARE on tracker_schema (the migrations'
# own lock); the claims are no migration's business.
BLOCKERS = r"""SELECT a.pid, a.usename AS role, a.application_name AS name, a.state,
    string_agg(DISTINCT c.relname, ', ') AS rels
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
  AND c.relname NOT LIKE 'tracker\_claim\_%'
  AND (c.relname <> 'tracker_schema' OR l.mode <> 'AccessShareLock')
GROUP BY a.pid, a.usename, a.application_name, a.state ORDER BY a.pid LIMIT 3"""
CONNECT_TIMEOUT = 10  # seconds, libpq's connect_timeout, for each host it tries
# The book's schema version, once tracker_schema exists (as `v`).
CURRENT_VERSION = "SELECT coalesce(max(version), 0) AS v FROM tracker_schema"
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


def migrate(url: str, password: str = "",
            connected: Callable[[psycopg.Connection[Any]], None] | None = None
            ) -> tuple[int, int]:
    """Connect to `url` (libpq's: .pgpass, PGPASSWORD, sslmode and several hosts work as in
    psql; `password`, when given, from the tracker's own secret sources) and bring the
    schema up to date: the version before and after. Every failure is a StartupError of one
    line, without the password. `connected` is handed the connection, for a caller in
    another thread to cancel what it waits for (a stop)."""
    try:
        import psycopg  # an optional extra: an SQLite install has no use for it
    except ImportError:
        raise StartupError(os.EX_CONFIG, "db: a PostgreSQL book needs the driver: pip install "
                                         "'open-order-tracker[postgres]'") from None
    where = shown(url)
    try:
        conn = psycopg.connect(url, autocommit=True, fallback_application_name="tracker",
                               connect_timeout=CONNECT_TIMEOUT,
                               **({"password": password} if password else {}))
    except psycopg.ProgrammingError as exc:  # libpq could not read the URL
        raise StartupError(os.EX_CONFIG, f"db: {where}: not a PostgreSQL URL libpq can read: "
                                         f"{said(exc, url)}") from None
    except psycopg.Error as exc:
        raise StartupError(os.EX_UNAVAILABLE, f"db: cannot connect to {where}: "
                                              f"{said(exc, url)}") from None
    if connected is not None:
        connected(conn)
    try:
        with conn:
            return apply(conn)
    except StartupError as exc:
        raise StartupError(exc.code, f"db: {where}: {exc}") from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StartupError(os.EX_CANTCREAT, f"db: {where}: cannot create the book there: "
                                            f"{said(exc, url)}") from None
    except psycopg.errors.ObjectInUse as exc:  # a migration's own refusal: trackers still run
        raise StartupError(os.EX_TEMPFAIL, f"db: {where}: "
                                           f"{exc.diag.message_primary}") from None
    except psycopg.OperationalError as exc:
        raise StartupError(os.EX_UNAVAILABLE, f"db: lost the connection to {where}: "
                                              f"{said(exc, url)}") from None
    except psycopg.Error as exc:
        raise StartupError(os.EX_IOERR, f"db: cannot use {where}: {said(exc, url)}") from None


class NewerSchema(MigrationError):
    """A book a newer tracker migrated: neither migrating nor waiting helps this one."""


def newer(current: int, latest: int) -> NewerSchema:
    return NewerSchema(f"the book is at schema {current}, newer than this tracker's "
                       f"{latest}: upgrade the tracker")


def apply(conn: psycopg.Connection[Any],
          migrations: list[tuple[int, str]] | None = None) -> tuple[int, int]:
    """Bring the schema up to date, one migration per transaction, each with its version row
    and under the lock: a migration that fails leaves the schema at the version before it.
    A lock waited for past lock_timeout (LOCK_WAIT unless the connection sets its own) is a
    StartupError of exit 75 naming who holds it."""
    import psycopg

    migrations = load(directory()) if migrations is None else migrations
    latest = migrations[-1][0] if migrations else 0
    if conn.execute("SELECT current_setting('lock_timeout') = '0'").fetchone() == (True,):
        conn.execute(f"SET lock_timeout = '{LOCK_WAIT}'")
    versions_table(conn)
    before: int | None = None
    while True:
        try:
            with conn.transaction():
                conn.execute("LOCK TABLE tracker_schema IN EXCLUSIVE MODE")
                names = tables(conn)
                current = version(conn)
                before = current if before is None else before
                if current > latest:
                    raise newer(current, latest)
                foreign(names, current)
                if current == latest:
                    return before, current
                number, sql = migrations[current]
                conn.execute(sql)
                conn.execute("INSERT INTO tracker_schema (version) VALUES (%s)", (number,))
        except psycopg.errors.LockNotAvailable:
            raise StartupError(os.EX_TEMPFAIL, busy(conn)) from None


def versions_table(conn: psycopg.Connection[Any]) -> None:
    """`tracker_schema`, made first where it is absent: its lock is the migrations'. A schema
    holding another program's tables of the book's names is refused before anything is
    made in it; two trackers making it at once are both fine."""
    import psycopg

    names = tables(conn)
    if "tracker_schema" in names:
        return
    foreign(names, 0)
    try:
        with conn.transaction():
            conn.execute(VERSIONS)
    except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
        pass  # another tracker made it meanwhile


def busy(conn: psycopg.Connection[Any]) -> str:
    """What a migration waited for in vain, and who holds it, on one line."""
    waited = conn.execute("SELECT current_setting('lock_timeout')").fetchone()
    holders = [f"{r[1]} pid {r[0]} ({r[2] or 'no application_name'}, "
               f"{r[3] or 'state hidden from this role'}) on {r[4]}"
               for r in conn.execute(BLOCKERS).fetchall()]
    who = "; ".join(holders) or "a session that has let go since"
    return (f"waited {waited[0] if waited else LOCK_WAIT} for a lock held by {who}: the "
            "schema is unchanged; try again once that transaction ends")


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
    row = conn.execute(CURRENT_VERSION).fetchone()
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
