"""The PostgreSQL book: one account's writer in a database many trackers share.

Each tracker writes one account. It claims the account on a connection of its own (an
EXCLUSIVE lock on the account's claim view, held in a transaction left open: see
`migrate.CLAIM_PREFIX`) and writes on a second; every batch checks, in its own transaction,
that the claim connection still holds the claim, so a writer whose claim is gone cannot
write unfenced. Every batch is one transaction: the journal rows and the order rows go in
through COPY (the orders into a staging table, then one upsert), then `sync_state`, then
one NOTIFY for the whole batch.

The database may go away while the exchange keeps talking (a restart, a network cut, a
failover). A failed commit drops both connections and raises; the driver keeps the batch
and retries, and the retry reconnects, claims the account again and reads the account's
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
from psycopg import sql
from psycopg.rows import dict_row

from tracker.batch import Batch
from tracker.codec import OrderUpdate
from tracker.migrate import MigrationError, StartupError, load, migrations_dir
from tracker.postgres import migrate
from tracker.reasons import NotLive
from tracker.storage import (
    EVENT_COLUMNS,
    MARKET_CHANGED,
    MARKET_COLUMNS,
    ORDER_COLUMNS,
    PRUNE_CHUNK,
    BookStore,
    Gauges,
    order_params,
    row_from_db,
)

log = structlog.get_logger("tracker.pg_store")  # the `logger` of its log lines
T = TypeVar("T")

COPY_EVENTS = (f"COPY order_events (account, {', '.join(EVENT_COLUMNS)}) FROM STDIN")
STAGE = ("CREATE TEMPORARY TABLE order_stage (LIKE orders INCLUDING DEFAULTS) "
         "ON COMMIT DELETE ROWS")
COPY_STAGE = f"COPY order_stage (account, {', '.join(ORDER_COLUMNS)}) FROM STDIN"
UPSERT_STAGE = (
    f"INSERT INTO orders (account, {', '.join(ORDER_COLUMNS)}) "
    f"SELECT account, {', '.join(ORDER_COLUMNS)} FROM order_stage "
    "ON CONFLICT (account, order_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ORDER_COLUMNS[1:]))
# The markets as four arrays, in the batch's (sorted) order: trackers of one venue lock
# the rows they share in one order, so two batches never wait for each other in a circle.
UPSERT_MARKETS = (
    f"INSERT INTO markets ({', '.join(MARKET_COLUMNS)}, unified_symbol) "
    "SELECT v, s, b, q, b || '/' || q "
    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) WITH ORDINALITY "
    f"AS m(v, s, b, q, n) ORDER BY n {MARKET_CHANGED}")
# A commit that has not come back in this long is taken for a lost connection (a frozen
# server, a cut without a reset): the connection is dropped and the batch retried.
COMMIT_TIMEOUT = 30.0  # the default of PgStore.commit_timeout
# How long a reconnect waits for the server to finish ending our old connection.
RECLAIM_MS = 2000
CONNECT_TIMEOUT = migrate.CONNECT_TIMEOUT
# The longest application_name the server keeps (NAMEDATALEN - 1), in bytes: an account's
# characters (A-Za-z0-9._-) and a host name's are one byte each.
NAME_BYTES = 63


class AccountTaken(Exception):
    """Another tracker holds the account's claim: this store writes no more."""


class ClaimLost(psycopg.OperationalError):
    """A batch found the claim no longer held by this tracker's claim connection (gone, or
    ended by the server): as with a lost link, both connections are dropped and the retry
    claims the account again, or finds it another's."""


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

    Longer than 200 lines because the connections' life is the book's here: the claim, the
    reconnect that reads back what a lost commit did, and retention all need the writer's
    connections and what it last committed."""

    MARK = "%s"
    # The server's clock stamps the heartbeat, at the moment the state is written: a tracker
    # whose clock is ahead cannot make its book look current after it died.
    NOW = migrate.NOW_MS
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
        self.conn: psycopg.AsyncConnection[dict[str, Any]] | None = None  # the writer's
        self.claim: psycopg.AsyncConnection[dict[str, Any]] | None = None  # holds the claim
        # The claim's relation and the server process holding it, which each batch checks.
        self.claimed: tuple[int, int] | None = None
        # Our backends of the connections before a loss, ended by the reconnect if the
        # server still has them.
        self.old_pids: tuple[int | None, ...] = ()
        # Why the database cannot be reached, while it cannot; None once a commit succeeds.
        self.unreachable: str | None = None
        self.reconnects = 0
        self.commit_timeout = COMMIT_TIMEOUT
        self.give_up_at: float | None = None  # set by a stop: no commit waits past it
        self.standby: Callable[[str], None] | None = None
        self.heard: Callable[[str | None], None] | None = None  # a start's `unreachable`
        self.opening = True  # until `open` returns: its waits are a start's, not a writer's
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
                   standby: Callable[[str], None] | None = None,
                   unreachable: Callable[[str | None], None] | None = None) -> PgStore:
        """The account's book, migrated and claimed for this process; a StartupError of one
        line (without the password) when it cannot be. With `standby`, a claim held by
        another tracker is waited for (`standby` hears who holds it) instead of refused.

        A server out of reach, or a connection it ends, is waited for with back-off, as a
        writer's reconnect waits (`unreachable` hears why, then None once it answers): a
        restart of the server must not end a standby or a tracker that is starting."""
        store = cls(url, account, password, keep_days)
        store.standby = standby
        store.heard = unreachable
        delay = 0.1
        try:
            while True:
                try:
                    store.committed_seq = await store._connect(starting=True)
                    break
                except psycopg.OperationalError as exc:
                    await store.close()
                    store._unreachable(exc, "waiting to start; retrying with back-off")
                    if unreachable is not None:
                        unreachable(store.unreachable)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            store._answered()
            store.next_seq = store.committed_seq + 1
            # Active from here: a claim lost later (cut off while a standby took over) is
            # given up, never waited for inside a commit with this term's book in memory.
            store.standby = store.heard = None
            store.opening = False
        except AccountTaken as exc:
            await store.close()
            raise StartupError(os.EX_TEMPFAIL, f"db: {store.where}: {exc}") from None
        except MigrationError as exc:
            await store.close()
            raise StartupError(exc.code, f"db: {store.where}: {exc}") from None
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
        except BaseException:  # the migrations' own line; or a stop (cancelled) meanwhile
            await store.close()
            raise
        return store

    def _answered(self) -> None:
        """A start that waited for the server says, once, that it answers again."""
        if self.opening and self.unreachable is not None:
            log.warning("db_reconnected", account=self.account, where=self.where)
            self.unreachable = None
            if self.heard is not None:
                self.heard(None)

    async def _dial(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        return await psycopg.AsyncConnection.connect(
            self.url, row_factory=dict_row, **_connect_args(self.account, self.password))

    async def _connect(self, starting: bool = False) -> int:
        """The account claimed and a connection to write it with; the account's highest
        journal seq. The claim comes first, on a connection of its own that holds it in a
        transaction left open (a lock cannot outlive its transaction, and a writer commits
        every second); the writer's connection is made once the claim is held."""
        self.claim = claim = await self._dial()
        await self._check_schema(claim, starting)
        view = await self._claim_view(claim)
        await self._end_old(claim)
        await self._take(claim, view, starting)
        self.conn = conn = await self._dial()
        await conn.execute(STAGE)
        await conn.execute("INSERT INTO sync_state (account) VALUES (%s) "
                           "ON CONFLICT (account) DO NOTHING", (self.account,))
        # A writer that lost the claim may be inside a batch it checked the claim in just
        # before: wait for that batch to end (it holds the account's row) before reading
        # where the journal ends.
        await conn.execute("SELECT 1 FROM sync_state WHERE account = %s FOR UPDATE",
                           (self.account,))
        cur = await conn.execute(
            "SELECT s.book_id, s.pid, s.started_at, (SELECT max(seq) FROM order_events e "
            "WHERE e.account = s.account) AS seq FROM sync_state s WHERE account = %s",
            (self.account,))
        found = await cur.fetchone()
        assert found is not None
        self.book_id = found["book_id"]
        self.found_writer = (found["pid"], found["started_at"])
        return int(found["seq"] or 0)

    async def _check_schema(self, conn: psycopg.AsyncConnection[Any], starting: bool) -> None:
        """The book must be at this tracker's schema. A start brings an older one up to date
        (only then does it take the migrations' lock); a reconnect, which may land on another
        server (a failover), says so and retries. A newer one is this tracker's to upgrade,
        never the book's to wait for."""
        latest = load(migrations_dir() / "postgres")[-1][0]
        current = await self._version(conn)
        if current < latest and starting:
            await self._migrate()
            current = await self._version(conn)
        if current > latest:
            raise migrate.newer(current, latest)
        if current != latest:
            raise MigrationError(f"the database is at schema {current}, this tracker needs "
                                 f"{latest}: run `tracker migrate`")

    @staticmethod
    async def _version(conn: psycopg.AsyncConnection[Any]) -> int:
        cur = await conn.execute("SELECT to_regclass('tracker_schema') IS NOT NULL AS ok")
        row = await cur.fetchone()
        if not (row and row["ok"]):
            return 0
        cur = await conn.execute(migrate.CURRENT_VERSION)
        got = await cur.fetchone()
        return int(got["v"]) if got else 0

    async def _migrate(self) -> None:
        """The migrations, in a thread (the driver's synchronous connection): a stop while
        they wait for a lock cancels the statement on the server, so the stop is at once. A
        server lost meanwhile is a blip like any other: the start waits for it again."""
        connections: list[psycopg.Connection[Any]] = []
        work = asyncio.ensure_future(asyncio.to_thread(
            migrate.migrate, self.url, self.password, connections.append))
        try:
            await asyncio.shield(work)
        except StartupError as exc:
            if exc.code == os.EX_UNAVAILABLE:  # the server went away: waited for as a blip
                raise psycopg.OperationalError(str(exc)) from None
            raise
        except asyncio.CancelledError:
            for conn in connections:
                with contextlib.suppress(psycopg.Error):
                    await asyncio.to_thread(conn.cancel_safe, timeout=2.0)
            with contextlib.suppress(Exception):
                await work
            raise

    async def _claim_view(self, conn: psycopg.AsyncConnection[Any]) -> sql.Identifier:
        """The account's claim view, made by its first tracker; two making it at once both
        find it made. Made outside any claim's transaction: made inside one, it would stay
        unseen (uncommitted) by every other tracker for as long as the claim is held."""
        view = sql.Identifier(migrate.CLAIM_PREFIX + hashlib.sha256(
            self.account.encode()).hexdigest()[:16])
        cur = await conn.execute(f"SELECT {migrate.CLAIM} IS NOT NULL AS made",
                                 (self.account,))
        row = await cur.fetchone()
        if row and row["made"]:
            return view
        try:
            async with conn.transaction():
                await conn.execute(sql.SQL("CREATE VIEW {} AS SELECT 1 AS one").format(view))
                await conn.execute(sql.SQL("COMMENT ON VIEW {} IS {}").format(
                    view, sql.Literal(f"the claim of account {self.account}: its writer "
                                      "holds an EXCLUSIVE lock on this view")))
        except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
            pass  # another tracker of the account made it meanwhile
        return view

    async def _end_old(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """After a lost connection the server may not yet know our old connections are dead,
        and still hold the claim or a batch's transaction for them: end those backends (ours:
        same pid, same name) if they are there. Anyone else's are left alone. Only a
        reconnect has any: at a start, a claim held is another tracker's."""
        old = [pid for pid in self.old_pids if pid is not None]
        self.old_pids = ()
        if not old:
            return
        cur = await conn.execute(
            "SELECT pid, pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity "
            "WHERE pid = ANY(%s) AND application_name = current_setting('application_name')",
            (old,))
        for row in await cur.fetchall():
            if row["ended"]:
                log.warning("db_old_connection_ended", backend_pid=row["pid"])

    async def _take(self, claim: psycopg.AsyncConnection[Any], view: sql.Identifier,
                    starting: bool) -> None:
        """Lock the claim, in a transaction left open. At a start it is taken at once or
        refused (AccountTaken); a reconnect waits RECLAIM_MS for our old backend to go;
        a standby waits in the server, and gets it the moment the holder's connection ends
        (a crash, a cut, a stop)."""
        # Only the transaction holds the claim: the server must not end it for idling, nor
        # a role's default timeouts cut a standby's wait short.
        await claim.execute("SET idle_in_transaction_session_timeout = 0")
        await claim.execute("SET statement_timeout = 0")
        # A tracker killed while it waits leaves its backend queued for the claim unless the
        # server checks the socket now and then (PostgreSQL 14 and up).
        with contextlib.suppress(psycopg.errors.UndefinedObject):
            await claim.execute("SET client_connection_check_interval = 2000")
        # Read before the transaction: a statement with parameters leaves its portal, and
        # the portal's snapshot, open until the next statement, which in the claim's
        # transaction would never come (and the snapshot would hold vacuum back).
        cur = await claim.execute(f"SELECT {migrate.CLAIM}::oid AS rel, "
                                  "pg_backend_pid() AS pid", (self.account,))
        row = await cur.fetchone()
        assert row is not None
        claimed = (row["rel"], row["pid"])
        lock = sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(view)
        await claim.execute("BEGIN")
        try:
            if starting:
                await claim.execute(lock + sql.SQL(" NOWAIT"))
            else:
                await claim.execute(f"SET LOCAL lock_timeout = '{RECLAIM_MS}ms'")
                await claim.execute(lock)
        except psycopg.errors.LockNotAvailable:
            await claim.execute("ROLLBACK")
            holder = await self._holder(claim)
            if self.standby is None:
                raise AccountTaken(f"account {self.account} is written by {holder}") from None
            self._answered()
            self.standby(holder)
            await claim.execute("BEGIN")
            await claim.execute("SET LOCAL lock_timeout = 0")
            await claim.execute(lock)
        self.claimed = claimed

    async def _holder(self, conn: psycopg.AsyncConnection[Any]) -> str:
        """Who holds the account's claim, as the server says."""
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

    @property
    def backend_pid(self) -> int | None:
        """The server process the claim lives in."""
        return self.claimed[1] if self.claimed is not None else None

    async def close(self) -> None:
        """Closing the claim's connection releases the claim. Our backends are remembered:
        the server may not see the connections end (a link cut), and the next connect ends
        them where they linger."""
        pids = []
        for conn in (self.claim, self.conn):
            if conn is not None:
                pids.append(None if conn.closed else conn.info.backend_pid)
                try:
                    await asyncio.wait_for(conn.close(), 2.0)
                except (psycopg.Error, OSError, TimeoutError):
                    conn.pgconn.finish()
        self.claim = self.conn = None
        self.claimed = None
        self.old_pids = tuple(pids) or self.old_pids

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
        if self._link_gone():
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
        if self._link_gone() and await self._reconnect(batch):
            return True
        await self._write(batch)
        return False

    def _link_gone(self) -> bool:
        return any(c is None or c.broken or c.closed for c in (self.conn, self.claim))

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
        except migrate.NewerSchema as exc:
            # Reconnected to a book a newer tracker migrated: exit, saying so (78).
            self.refused = StartupError(exc.code, f"db: {self.where}: {exc}")
            self.lost = str(exc)
            self.replaced.set()
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
            if batch.markets:
                await cur.execute(UPSERT_MARKETS, [list(c) for c in zip(*batch.markets,
                                                                        strict=True)])
            # The state, the claim's check and the notification in one statement: one round
            # trip, which a one-push batch feels. Without the claim it updates nothing and
            # the whole batch rolls back.
            assert self.claimed is not None
            await cur.execute(
                f"WITH s AS (UPDATE sync_state SET {sets} WHERE {self.state_row} "
                f"AND {migrate.HOLDS_CLAIM} RETURNING account) "
                "SELECT pg_notify(%s, %s) FROM s",
                [*values, *self.scope_args, *self.claimed, migrate.CHANNEL,
                 json.dumps({"account": self.account, "seq": seq})])
            if await cur.fetchone() is None:
                raise ClaimLost(f"this tracker no longer holds the claim on {self.account}: "
                                "the batch was rolled back")

    def _order_rows(self, batch: Batch) -> Iterator[tuple[Any, ...]]:
        for params in order_params(batch):
            yield (self.account, *params)

    async def _broken(self, exc: BaseException) -> None:
        """Drop both connections (the claim goes with its own on the server's side) and say
        why."""
        self._unreachable(exc, "updates queue in memory; reconnecting with back-off")
        await self.close()

    def _unreachable(self, exc: BaseException, effect: str) -> None:
        """Say once, until the server answers again, why it cannot be reached."""
        why = ("no answer in time" if isinstance(exc, TimeoutError)
               else migrate.said(exc, self.url))
        if self.unreachable is None:
            log.error("db_unreachable", account=self.account, where=self.where, error=why,
                      effect=effect)
        self.unreachable = why

    async def _reconnect(self, batch: Batch) -> bool:
        """Connect and claim again; True when the failed attempt at `batch` had committed.

        The account's journal must end where this tracker's last commit left it, or, where
        the lost attempt committed, at the batch's last seq. Anything else means the
        database lost commits this tracker saw succeed (a failover to a replica behind, a
        restore from a backup) or another writer wrote: readers are told by a new book_id,
        and the tracker stops, to start again from the book as it is now."""
        self.reconnects += 1
        await self.close()  # what is left of the connections, if one of the two lives on
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
