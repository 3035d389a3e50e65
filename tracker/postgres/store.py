"""The PostgreSQL book: one account's writer in a database many trackers share.

Each tracker writes one account, on one connection that holds the account's advisory lock
(`pg_try_advisory_lock`): the lock and the writes share a connection, so a writer whose
connection is gone has lost both at once and cannot write unfenced. Every batch is one
transaction: the journal rows and the order rows go in through COPY (the orders into a
staging table, then one upsert), then `sync_state`, then one NOTIFY for the whole batch.

The database may go away while the exchange keeps talking (a restart, a network cut, a
failover). A failed commit marks the connection broken and raises; the driver keeps the
batch and retries, and the retry reconnects, takes the lock again and reads the account's
last committed seq first: a batch whose commit succeeded unseen is not written twice, so
no journal row or counter doubles.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg.rows import dict_row

from tracker.batch import Batch
from tracker.codec import OrderUpdate
from tracker.migrate import MigrationError, StartupError, load, migrations_dir
from tracker.postgres import migrate
from tracker.reasons import NotLive
from tracker.storage import (
    EVENT_COLUMNS,
    ORDER_COLUMNS,
    PRUNE_CHUNK,
    BookStore,
    Gauges,
    order_params,
    row_from_db,
)

log = structlog.get_logger("tracker.pg_store")  # the `logger` of its log lines
T = TypeVar("T")

LOCK_KEY = migrate.LOCK_KEY
COPY_EVENTS = (f"COPY order_events (account, {', '.join(EVENT_COLUMNS)}) FROM STDIN")
STAGE = ("CREATE TEMPORARY TABLE order_stage (LIKE orders INCLUDING DEFAULTS) "
         "ON COMMIT DELETE ROWS")
COPY_STAGE = f"COPY order_stage (account, {', '.join(ORDER_COLUMNS)}) FROM STDIN"
UPSERT_STAGE = (
    f"INSERT INTO orders (account, {', '.join(ORDER_COLUMNS)}) "
    f"SELECT account, {', '.join(ORDER_COLUMNS)} FROM order_stage "
    "ON CONFLICT (account, order_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ORDER_COLUMNS[1:]))
# A commit that has not come back in this long is taken for a lost connection (a frozen
# server, a cut without a reset): the connection is dropped and the batch retried.
COMMIT_TIMEOUT = 30.0  # the default of PgStore.commit_timeout
# How long a reconnect waits for the server to finish ending our old connection.
RECLAIM_SECONDS = 2.0
CONNECT_TIMEOUT = 10  # seconds, libpq's connect_timeout, for each host it tries
# The longest application_name the server keeps (NAMEDATALEN - 1), in bytes: an account's
# characters (A-Za-z0-9._-) and a host name's are one byte each.
NAME_BYTES = 63


class AccountTaken(Exception):
    """Another connection holds the account's lock: this store writes no more."""


def application_name(account: str, pid: int, host: str) -> str:
    """"tracker ACCOUNT pid N on HOST", who we are in pg_stat_activity (the lock's holder is
    named from there), within the 63 bytes the server keeps. An account too long for them
    (accounts may have 64 characters) is shortened to its first 20 and a hash of the whole
    (the whole is in sync_state), so that the pid and host, which tell the trackers of one
    account apart, stay; a host too long for what is left loses its end."""
    name = f"tracker {account} pid {pid} on {host}"
    if len(name) > NAME_BYTES:
        digest = hashlib.sha256(account.encode()).hexdigest()[:8]
        name = f"tracker {account[:20]}~{digest} pid {pid} on {host}"
    return name[:NAME_BYTES]


def _connect_args(account: str, password: str) -> dict[str, Any]:
    """libpq's settings beside the URL's: our name in pg_stat_activity, and keepalives, so
    that a network cut is noticed in seconds."""
    args: dict[str, Any] = {
        "autocommit": True, "connect_timeout": CONNECT_TIMEOUT,
        "application_name": application_name(account, os.getpid(), socket.gethostname()),
        "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
        "tcp_user_timeout": 15_000}
    if password:
        args["password"] = password
    return args


class PgStore(BookStore):
    """The PostgreSQL backend of `BookStore`, for one account.

    Longer than 200 lines because the connection's life is the book's here: the lock, the
    reconnect that reads back what a lost commit did, and retention all need the writer's
    connection and what it last committed."""

    MARK = "%s"
    # The server's clock stamps the heartbeat, at the moment the state is written: a tracker
    # whose clock is ahead cannot make its book look current after it died.
    NOW = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
    DB_ERRORS = (psycopg.Error,)
    logger = log
    scope = "account = %s AND "
    state_row = "account = %s"

    def __init__(self, url: str, account: str, password: str, keep_days: float) -> None:
        super().__init__(keep_days)
        self.scope_args = (account,)
        self.url = url
        self.where = migrate.shown(url)
        self.account = account
        self.password = password
        self.conn: psycopg.AsyncConnection[dict[str, Any]] | None = None
        self.backend_pid: int | None = None  # the server process our lock lives in
        # Why the database cannot be reached, while it cannot; None once a commit succeeds.
        self.unreachable: str | None = None
        self.reconnects = 0
        self.commit_timeout = COMMIT_TIMEOUT
        self.give_up_at: float | None = None  # set by a stop: no commit waits past it
        self.standby: Callable[[str], None] | None = None
        # (pid, started_at) this tracker wrote into sync_state, and what a connect found
        # there: a reconnect that finds another's knows another tracker wrote meanwhile.
        self.writer: tuple[Any, Any] | None = None
        self.found_writer: tuple[Any, Any] = (None, None)

    @property
    def not_writable_reason(self) -> NotLive:
        return (NotLive.DATABASE_UNREACHABLE if self.unreachable is not None
                else NotLive.DATABASE_UNWRITABLE)

    @property
    def not_writable_detail(self) -> str | None:
        return self.unreachable

    def stop_by(self, deadline: float) -> None:
        self.give_up_at = deadline

    def said(self, exc: Exception) -> str:
        return migrate.said(exc, self.url)

    @classmethod
    async def open(cls, url: str, account: str, password: str = "", keep_days: float = 0,
                   standby: Callable[[str], None] | None = None) -> PgStore:
        """The account's book, migrated and locked for this process; a StartupError of one
        line (without the password) when it cannot be. With `standby`, a lock held by
        another tracker is waited for (`standby` hears who holds it) instead of refused."""
        await asyncio.to_thread(migrate.migrate, url, password)
        store = cls(url, account, password, keep_days)
        store.standby = standby
        try:
            store.committed_seq = await store._connect()
            store.next_seq = store.committed_seq + 1
            # Active from here: a lock lost later (cut off while a standby took over) is
            # given up, never waited for inside a commit with this term's book in memory.
            store.standby = None
        except (AccountTaken, MigrationError) as exc:
            await store.close()
            raise StartupError(os.EX_TEMPFAIL if isinstance(exc, AccountTaken)
                               else exc.code, f"db: {store.where}: {exc}") from None
        except psycopg.errors.InsufficientPrivilege as exc:
            # A reader's role given to the tracker: starting again cannot fix it.
            await store.close()
            raise StartupError(os.EX_CANTCREAT, f"db: {store.where}: this role lacks write "
                                                f"rights on the book: {migrate.said(exc, url)}"
                               ) from None
        except psycopg.Error as exc:
            await store.close()
            raise StartupError(os.EX_UNAVAILABLE, f"db: cannot use {store.where}: "
                                                  f"{migrate.said(exc, url)}") from None
        return store

    async def _connect(self) -> int:
        """A connection holding the account's lock; the account's highest journal seq."""
        conn = await psycopg.AsyncConnection.connect(
            self.url, row_factory=dict_row, **_connect_args(self.account, self.password))
        try:
            await self._check_schema(conn)
            row = await (await conn.execute(f"SELECT pg_try_advisory_lock({LOCK_KEY}) AS got, "
                                            "pg_backend_pid() AS pid", (self.account,))
                         ).fetchone()
            assert row is not None
            if not row["got"] and not await self._reclaim(conn):
                holder = await self._holder(conn)
                if self.standby is None:
                    raise AccountTaken(f"account {self.account} is written by {holder}")
                # A hot standby: wait in the server for the lock; it comes the moment the
                # active tracker's connection ends (a crash, a cut, a stop).
                self.standby(holder)
                # A standby killed while it waits leaves its backend queued for the lock
                # unless the server checks the socket now and then (PostgreSQL 14 and up).
                with contextlib.suppress(psycopg.errors.UndefinedObject):
                    await conn.execute("SET client_connection_check_interval = 2000")
                await conn.execute(f"SELECT pg_advisory_lock({LOCK_KEY})", (self.account,))
            self.backend_pid = row["pid"]
            await conn.execute(STAGE)
            await conn.execute("INSERT INTO sync_state (account) VALUES (%s) "
                               "ON CONFLICT (account) DO NOTHING", (self.account,))
            cur = await conn.execute(
                "SELECT s.book_id, s.pid, s.started_at, (SELECT max(seq) FROM order_events e "
                "WHERE e.account = s.account) AS seq FROM sync_state s WHERE account = %s",
                (self.account,))
            found = await cur.fetchone()
        except BaseException:
            await conn.close()
            raise
        assert found is not None
        self.conn = conn
        self.book_id = found["book_id"]
        self.found_writer = (found["pid"], found["started_at"])
        return int(found["seq"] or 0)

    async def _check_schema(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """A reconnect may land on another server (a failover): it must hold our schema."""
        latest = load(migrations_dir() / "postgres")[-1][0]
        cur = await conn.execute("SELECT to_regclass('tracker_schema') IS NOT NULL AS ok")
        row = await cur.fetchone()
        current = 0
        if row and row["ok"]:
            cur = await conn.execute("SELECT coalesce(max(version), 0) AS v FROM tracker_schema")
            got = await cur.fetchone()
            current = got["v"] if got else 0
        if current != latest:
            raise MigrationError(f"the database is at schema {current}, this tracker needs "
                                 f"{latest}: run `tracker migrate`")

    async def _reclaim(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """After a lost connection the server may not yet know our old connection is dead,
        or may be ending it, and still hold its lock: end that one backend (ours: same pid,
        same name) if it is there, and try the lock again while it goes (RECLAIM_SECONDS).
        Anyone else's lock is left alone. Only a reconnect does this: at a start, a held
        lock is another tracker's."""
        if self.backend_pid is None:
            return False
        cur = await conn.execute(
            "SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity "
            "WHERE pid = %s AND application_name = current_setting('application_name')",
            (self.backend_pid,))
        row = await cur.fetchone()
        if row and row["ended"]:
            log.warning("db_old_connection_ended", backend_pid=self.backend_pid)
        deadline = time.monotonic() + RECLAIM_SECONDS
        while True:
            cur = await conn.execute(f"SELECT pg_try_advisory_lock({LOCK_KEY}) AS got",
                                     (self.account,))
            got = await cur.fetchone()
            if got and got["got"]:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)

    async def _holder(self, conn: psycopg.AsyncConnection[Any]) -> str:
        """Who holds the account's lock, as the server says."""
        cur = await conn.execute(migrate.LOCKERS, (self.account,))
        row = await cur.fetchone()
        if row is None or not row["granted"]:
            return "another tracker"  # it has just let go: the next try may take it
        return f"{row['name'] or 'an unnamed connection'}" + (
            f" from {row['addr']}" if row["addr"] else "")

    def _lose(self, why: str) -> None:
        self.lost = why
        log.error("book_lost", account=self.account, reason=why, last_seq=self.committed_seq,
                  book_id=self.book_id, effect="writing stopped; restart to read the book again")
        self.replaced.set()

    async def close(self) -> None:
        """Closing the connection releases the lock."""
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

    async def _rows(self, sql: str, args: Sequence[Any]) -> Sequence[Mapping[str, Any]]:
        assert self.conn is not None
        cur = await self.conn.execute(sql, args)
        return await cur.fetchall()

    async def recall(self, order_ids: list[str]) -> list[tuple[OrderUpdate, int]]:
        """Read as a commit writes: bounded in time, reconnecting (and checking that the
        account's journal still ends where this tracker left it) when the connection is
        gone, since the driver asks only once its last commit has landed."""
        if self.lost is not None:
            raise AccountTaken(self.lost)
        return await self._guarded(self._recall(order_ids))

    async def _recall(self, order_ids: list[str]) -> list[tuple[OrderUpdate, int]]:
        if self.conn is None or self.conn.broken or self.conn.closed:
            await self._reconnect(Batch())
        assert self.conn is not None
        cur = await self.conn.execute(
            "SELECT * FROM orders WHERE account = %s AND order_id = ANY(%s)",
            (self.account, order_ids))
        return [(row_from_db(r), r["last_seq"]) for r in await cur.fetchall()]

    async def commit(self, batch: Batch) -> None:
        """One transaction. On failure it raises; a retry of the same batch reconnects first
        and writes nothing the failed attempt committed."""
        self._refuse_unknown(batch)
        if self.lost is not None:
            raise AccountTaken(self.lost)
        started = time.monotonic()
        if await self._guarded(self._attempt(batch)):
            return self._committed(batch, started)
        self._committed(batch, started)
        await self._retain()

    async def _attempt(self, batch: Batch) -> bool:
        """Reconnect where needed, then write; True when a reconnect found the batch
        committed by the attempt before."""
        gone = self.conn is None or self.conn.broken or self.conn.closed
        if gone and await self._reconnect(batch):
            return True
        await self._write(batch)
        return False

    async def _guarded(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` bounded in time; a link that failed is dropped and said, a lost lock
        recorded, and either raised for the caller to retry or give up."""
        try:
            return await self._bounded(work)
        except (psycopg.OperationalError, psycopg.InterfaceError, TimeoutError) as exc:
            await self._broken(exc)
            raise
        except AccountTaken as exc:
            self._lose(str(exc))
            raise

    async def _bounded(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` within commit_timeout (and by `give_up_at`, once a stop set it), or
        TimeoutError. Interrupted once, psycopg asks the server to cancel and waits up to
        10 s for a server that is not answering anyway; interrupted again, it drops the
        connection at once, which is what is wanted here."""
        task = asyncio.ensure_future(work)
        started = time.monotonic()
        try:
            while True:
                limit = started + self.commit_timeout
                if self.give_up_at is not None:
                    limit = min(limit, self.give_up_at)
                # In slices: a stop that comes while this waits shortens the wait.
                done, _ = await asyncio.wait(
                    {task}, timeout=max(0.0, min(0.25, limit - time.monotonic())))
                if done:
                    return task.result()
                if time.monotonic() >= limit:
                    break
            task.cancel()
            await asyncio.sleep(0.05)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, psycopg.Error):
                await task
            raise TimeoutError
        finally:
            task.cancel()

    def _committed(self, batch: Batch, started: float) -> None:
        super()._committed(batch, started)
        if self.unreachable is not None:
            log.warning("db_reachable", account=self.account, where=self.where)
            self.unreachable = None
        if "pid" in batch.state:  # the tracker names itself in its first write
            self.writer = (batch.state["pid"], batch.state.get("started_at"))

    async def _write(self, batch: Batch) -> None:
        assert self.conn is not None
        sets, values = self._state_set(batch)
        seq = batch.events[-1][0] if batch.events else self.committed_seq
        async with self.conn.transaction():
            cur = self.conn.cursor()
            if batch.events:
                async with cur.copy(COPY_EVENTS) as copy:
                    for event in batch.events:
                        await copy.write_row((self.account, *event))
            if batch.orders:
                async with cur.copy(COPY_STAGE) as copy:
                    for params in self._order_rows(batch):
                        await copy.write_row(params)
                await cur.execute(UPSERT_STAGE)
            if batch.forget:
                await cur.execute("DELETE FROM orders WHERE account = %s AND order_id = ANY(%s)",
                                  (self.account, batch.forget))
            # The state, the lock's check and the notification in one statement: one round
            # trip, which a one-push batch feels. Without the lock it updates nothing and
            # the whole batch rolls back.
            await cur.execute(
                f"WITH s AS (UPDATE sync_state SET {sets} WHERE {self.state_row} "
                f"AND {migrate.HOLDS_LOCK} RETURNING account) "
                "SELECT pg_notify(%s, %s) FROM s",
                [*values, *self.scope_args, self.account, migrate.CHANNEL,
                 json.dumps({"account": self.account, "seq": seq})])
            if await cur.fetchone() is None:
                raise AccountTaken(f"this connection no longer holds the lock on "
                                   f"{self.account}: the batch was rolled back")

    def _order_rows(self, batch: Batch) -> Iterator[tuple[Any, ...]]:
        for params in order_params(batch):
            yield (self.account, *params)

    async def _broken(self, exc: BaseException) -> None:
        """Drop the connection (the lock goes with it on the server's side) and say why."""
        why = ("no answer in time" if isinstance(exc, TimeoutError)
               else migrate.said(
                   exc, self.url))
        if self.unreachable is None:
            log.error("db_unreachable", account=self.account, where=self.where, error=why,
                      effect="updates queue in memory; reconnecting with back-off")
        self.unreachable = why
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                await asyncio.wait_for(conn.close(), 2.0)
            except (psycopg.Error, OSError, TimeoutError):
                conn.pgconn.finish()

    async def _reconnect(self, batch: Batch) -> bool:
        """Connect and lock again; True when the failed attempt at `batch` had committed.

        The account's journal must end where this tracker's last commit left it, or, where
        the lost attempt committed, at the batch's last seq. Anything else means the
        database lost commits this tracker saw succeed (a failover to a replica behind, a
        restore from a backup) or another writer wrote: readers are told by a new book_id,
        and the tracker stops, to start again from the book as it is now."""
        self.reconnects += 1
        seq = await self._connect()
        if self.writer is not None and self.found_writer != self.writer:
            # Another tracker held the account while this one was away and wrote (its first
            # write names it in sync_state), even if it journaled nothing: this one's book
            # in memory may no longer be the database's.
            raise AccountTaken(f"another tracker (pid {self.found_writer[0]}) wrote "
                               f"{self.account} while this one was away")
        log.warning("db_reconnected", account=self.account, where=self.where, last_seq=seq)
        if seq == self.committed_seq:
            return False
        if batch.events and seq == batch.events[-1][0]:
            return True
        self.book_id = secrets.token_hex(16)
        assert self.conn is not None
        await self.conn.execute("UPDATE sync_state SET book_id = %s WHERE account = %s",
                                (self.book_id, self.account))
        raise AccountTaken(f"the journal of {self.account} ends at seq {seq}, not at the "
                           f"{self.committed_seq} this tracker committed")

    async def prune(self, before_ms: int) -> bool:
        """Delete the account's oldest journal rows received before `before_ms`, at most one
        chunk, in seq order, keeping the newest row always: it holds the account's seq
        high-water mark, which the next start continues from."""
        assert self.conn is not None
        async with self.conn.transaction():
            cur = await self.conn.execute(
                "SELECT min(seq) AS low, max(seq) AS high FROM order_events WHERE account = %s",
                (self.account,))
            row = await cur.fetchone()
            if row is None or row["low"] is None:
                return False
            low, high = row["low"], row["high"]
            cur = await self.conn.execute(
                "SELECT min(seq) AS stop FROM order_events WHERE account = %s AND seq >= %s "
                "AND seq < %s AND received_at >= %s",
                (self.account, low, low + PRUNE_CHUNK, before_ms))
            found = await cur.fetchone()
            stop = min(low + PRUNE_CHUNK, high,
                       found["stop"] if found and found["stop"] is not None else high)
            cur = await self.conn.execute(
                "DELETE FROM order_events WHERE account = %s AND seq >= %s AND seq < %s",
                (self.account, low, stop))
            deleted = cur.rowcount
        self.pruned += deleted
        return deleted == PRUNE_CHUNK

    def gauges(self) -> Gauges:
        return Gauges(wal_bytes=0, wal_restarts=0, journal_pruned=self.pruned)
