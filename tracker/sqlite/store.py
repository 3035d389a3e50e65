"""The SQLite book: one writer connection, one transaction per batch, WAL for readers.

Readers (other processes) open `file:PATH?mode=ro` and never block this writer. A large
batch (a splice, a backlog) is written on aiosqlite's own thread, so it never stalls the
event loop that keeps the WebSocket alive; a small one, nearly every batch of a steady
stream, is written on the loop's own thread (INLINE_ROWS), which costs less than a hop.

Beside the book, `<db>.seq` is the writer's lock and the journal's high-water mark: a book
deleted or replaced by an older copy is noticed (at start, and within a second while
running), and its seqs continue above every seq ever used, under a new `book_id`.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import functools
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import structlog

from tracker.batch import Batch, now_ms
from tracker.codec import OrderUpdate
from tracker.migrate import MigrationError, StartupError
from tracker.sqlite import migrate
from tracker.sqlite.feed import Feed
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

_ON_ORDER_ID = ("ON CONFLICT (order_id) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in ORDER_COLUMNS[1:]))


@dataclass(frozen=True)
class Rows:
    """A statement that writes many rows at once, spelled for any number of them: `head`,
    one `(?, ...)` of `width` parameters per row, then `tail`."""

    head: str
    width: int
    tail: str = ""

    def of(self, count: int) -> str:
        return _spelled(self, count)


@functools.cache
def _spelled(rows: Rows, count: int) -> str:
    one = f"({', '.join('?' * rows.width)})"
    return f"{rows.head} {', '.join([one] * count)}{rows.tail}"


EVENTS = Rows(f"INSERT INTO order_events ({', '.join(EVENT_COLUMNS)}) VALUES",
              len(EVENT_COLUMNS))
ORDERS = Rows(f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES", len(ORDER_COLUMNS),
              f" {_ON_ORDER_ID}")
# The unified symbol is made from the row's base and quote. SELECT from VALUES, with
# `WHERE true` so that SQLite's parser reads the upsert's ON CONFLICT as no join's ON.
MARKETS = Rows(f"INSERT INTO markets ({', '.join(MARKET_COLUMNS)}, unified_symbol) "
               "SELECT column1, column2, column3, column4, column3 || '/' || column4 "
               "FROM (VALUES", len(MARKET_COLUMNS), f") WHERE true {MARKET_CHANGED}")
# Rows per statement, at most; a power of two. A batch's rows are written in statements of
# power-of-two sizes (1,000 rows: 512 + 256 + 128 + 64 + 32 + 8), so that the writer
# prepares a few statements once, and SQLite's statement cache holds them (about 1 KB a
# row: a few MB in all), where statements of every size would each be prepared anew.
# Many rows bound to one statement take the interpreter lock once: row by row
# (executemany), every row's step lets go of it and every next row waits to take it back
# while the event loop runs Python, a convoy that makes each row many times slower beside
# a busy loop (docs/measured.md). Rows bound as parameters cost half the CPU of rows bound
# as one JSON array that SQLite unpacks (json_each, json_extract per column), which this
# replaced ("Binance, third round").
ROWS_PER_STATEMENT = 1024


def write_rows(conn: sqlite3.Connection, statement: Rows,
               rows: Iterable[Sequence[Any]]) -> None:
    """`rows`, in as few statements of power-of-two sizes as the connection's limit on
    parameters allows; read a statement's worth at a time, so a splice of 100,000 orders
    is never all formatted at once beside the book's own rows."""
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // statement.width
    most = min(ROWS_PER_STATEMENT, 1 << (limit.bit_length() - 1))
    it = iter(rows)
    while chunk := list(islice(it, most)):
        at = 0
        while left := len(chunk) - at:
            size = 1 << (left.bit_length() - 1)
            conn.execute(statement.of(size), list(chain.from_iterable(chunk[at:at + size])))
            at += size


# Past this size the writer forces the WAL back to its start. SQLite's own passive
# checkpoints cannot restart the log while readers hold snapshots in it, which with a few
# busy readers is nearly always; so the WAL would grow with the run instead of staying put.
WAL_LIMIT = 8 * 2**20
WAL_CHECK_SECONDS = 1.0
# SQLite checkpoints the WAL inside the commit that takes it past this many pages, and the
# pushes queued behind that commit wait for it: smaller checkpoints, more often, keep each
# wait short, which is what a reader's p99 latency feels; fewer and larger ones make it
# longer (docs/measured.md, "Fourth round", has the figures behind this number).
CHECKPOINT_PAGES = 250
# A batch of at most this many journal rows and order rows is written on the event loop's
# own thread. Handing a batch to the connection's thread and back wakes two sleeping
# threads, which costs about as much as a small batch's write itself, and a steady stream
# makes nearly every batch this small (docs/measured.md, "Fifth round"). A larger batch (a
# splice, a backlog) goes to the thread, so the loop keeps reading the stream while it is
# written.
INLINE_ROWS = 32
# The writer never waits for SQLite's write lock once the book is open: only a process
# that should not write the book can hold it, and a wait would stall the event loop with
# an inline write in it. A commit that finds the lock taken fails at once and is retried,
# as any failed commit is.
OPEN_BUSY_MS, WRITE_BUSY_MS = 5000, 0
log = structlog.get_logger("tracker.store")  # the `logger` of its log lines
T = TypeVar("T")
# Seqs are reserved in `<db>.seq` this many at a time: one small write per block, none per
# commit. A replaced book's seqs jump by up to this much.
SEQ_BLOCK = 100_000
SEQ_RECORD = 256  # bytes: one sector, rewritten in place
LOW_SPACE = 1 << 20  # free bytes below which an I/O error at start is taken for a full disk


class BookReplaced(Exception):
    """The book's path names another file now, or none: this store writes no more."""


def unusable(path: Path, exc: BaseException) -> StartupError:
    """What keeps `path` from serving as the book, in one line with its sysexits code."""
    if isinstance(exc, MigrationError):
        return StartupError(exc.code, f"db: {path}: {exc}")
    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        # A full disk shows as SQLITE_FULL, or as an I/O error where SQLite grows its
        # shared-memory file: the free space tells which.
        if name.startswith("SQLITE_FULL") or (name.startswith("SQLITE_IOERR")
                                              and _free_bytes(path) < LOW_SPACE):
            return StartupError(os.EX_IOERR, f"db: no space left for {path} "
                                             f"({_free_bytes(path)} bytes free): {exc}")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StartupError(os.EX_TEMPFAIL, f"db: {path} is locked by another process: "
                                                f"{exc}")
        if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM",
                            "SQLITE_AUTH")):
            return StartupError(os.EX_CANTCREAT, f"db: cannot write {path} or create files "
                                                 f"beside it: {exc}")
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return StartupError(os.EX_IOERR, f"db: {path} is damaged or not an SQLite "
                                             f"database ({exc}): restore it from a backup, "
                                             "or move it away to start a new book")
        return StartupError(os.EX_IOERR, f"db: cannot use {path}: {exc}")
    if isinstance(exc, OSError):
        where = exc.filename or path
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StartupError(os.EX_IOERR, f"db: no space left for {where}: {exc.strerror}")
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR,
                         errno.ENOTDIR, errno.EEXIST, errno.ENOENT):
            return StartupError(os.EX_CANTCREAT, f"db: cannot write {where}: {exc.strerror}")
        return StartupError(os.EX_IOERR, f"db: {where}: {exc.strerror or exc}")
    raise TypeError(f"not a start-up failure: {exc!r}")


def _free_bytes(path: Path) -> int:
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return LOW_SPACE  # unknown: not called full
    return st.f_bavail * st.f_frsize


async def on_thread(conn: aiosqlite.Connection, work: Callable[..., T], *args: Any) -> T:
    """`work(connection, *args)` on aiosqlite's thread, in one hop from the event loop.

    Each of aiosqlite's calls is a hop (a queue to its thread, a wake-up back), and a
    batch's statements as one hop each would add a hop's wait per statement to every
    push a reader waits for (docs/measured.md). aiosqlite has no public call that runs
    several statements per hop (omnilib/aiosqlite#19); its own methods are built on
    `Connection._execute(fn, *args)` and `_conn` (the sqlite3 connection), used here and in
    `written` alone, on the version range pyproject.toml allows."""
    return await conn._execute(work, conn._conn, *args)


async def written(conn: aiosqlite.Connection, batch: Batch, update: str,
                  values: list[Any]) -> None:
    """A batch's transaction: a small one (INLINE_ROWS) here on the loop's thread, any other
    in one hop to the connection's."""
    if max(len(batch.events), len(batch.orders), len(batch.markets)) <= INLINE_ROWS:
        _write(conn._conn, batch, update, values)
    else:
        await on_thread(conn, _write, batch, update, values)


def _write(conn: sqlite3.Connection, batch: Batch, update: str, values: list[Any]) -> None:
    """One batch's transaction, whole or rolled back, on whichever thread `written` chose."""
    try:
        write_rows(conn, EVENTS, batch.events)
        write_rows(conn, ORDERS, order_params(batch))
        conn.executemany("DELETE FROM orders WHERE order_id = ?", ((o,) for o in batch.forget))
        write_rows(conn, MARKETS, batch.markets)
        conn.execute(update, values)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _make_room(path: Path) -> None:
    """The book's directory must exist: made on demand, a mistyped path (`/var/lib/trakcer/
    orders.db`) became a new, empty book that every reader of the right path never saw."""
    if not path.parent.is_dir():
        why = "not a directory" if path.parent.exists() else "no such directory"
        raise StartupError(os.EX_CANTCREAT, f"db: cannot create the book in {path.parent}: "
                                            f"{why} (create the directory first)")
    if path.is_dir():
        raise StartupError(os.EX_CANTCREAT, f"db: {path} is a directory, not a book file")


def connect_migrated(path: Path) -> None:
    """Create the file if needed (without world access), set WAL, and migrate; or raise a
    StartupError saying why the file cannot be the book."""
    try:
        _make_room(path)
        old = os.umask(0o027)
        try:
            # SQLite falls back to read-only on a file it cannot write, and says so only at
            # the first write: ask the kernel first, for a clear reason.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640))
            conn = sqlite3.connect(path)
            try:
                migrate.apply(conn)  # first: a file that is not ours is refused unchanged
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()
        finally:
            os.umask(old)
    except (OSError, sqlite3.Error, StartupError) as exc:
        raise unusable(path, exc) from None


@dataclass
class Mark:
    """What `<db>.seq` records about the book at its path."""

    book_id: str
    ino: int  # the book file's inode
    reached: int  # a seq the book is known to hold: less means an older copy
    reserved: int  # no seq above this was ever used, in this book or any before it
    pid: int  # the daemon that wrote this


class SeqFile:
    """`<db>.seq`: the writer's lock (flock) and the seq high-water mark.

    It outlives the book: after a delete or a restore it tells the next start where seqs
    may continue, so no seq a reader has seen is used again. It is rewritten in place (one
    sector, then fsync), never renamed: the lock must stay on this path's file, and a
    rewrite in place needs no free blocks, so a full disk cannot block it.
    """

    def __init__(self, book: Path) -> None:
        self.path = Path(f"{book}.seq")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.read()
            os.close(self.fd)
            pid = f" (pid {holder.pid})" if holder else ""
            raise StartupError(os.EX_TEMPFAIL, f"db: {book} is in use by another "
                                               f"tracker{pid}") from None
        except BaseException:
            os.close(self.fd)
            raise
        self.identity = _identity(os.fstat(self.fd))
        self.mark = self.read()
        self.new = self.mark is None  # its directory entry is made durable at the first write

    def read(self) -> Mark | None:
        raw = os.pread(self.fd, SEQ_RECORD, 0)
        if not raw.strip():
            return None  # a new file
        try:
            return Mark(**json.loads(raw))
        except (ValueError, TypeError):
            log.warning("seq_file_unreadable", path=str(self.path), content=raw[:80].decode(
                "utf-8", "replace"), effect="seqs continue from the book alone")
            return None

    def write(self, mark: Mark) -> None:
        record = json.dumps(asdict(mark)).encode()
        os.pwrite(self.fd, record + b"\n" + b" " * (SEQ_RECORD - len(record) - 1), 0)
        os.fsync(self.fd)
        if self.new:
            directory = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            self.new = False
        self.mark = mark

    def close(self) -> None:
        os.close(self.fd)


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _orphaned_wal(path: Path, owner: int | None) -> str | None:
    """Why the WAL beside `path` belongs to another file than the one there, if it does
    (`owner`: the inode the tracker last wrote through it). A WAL left by a daemon whose
    book was deleted or replaced (SQLite does not fold a WAL into a file that has moved)
    would be replayed into the file now at the path, and damage it."""
    if not Path(f"{path}-wal").exists():
        return None
    try:
        ino = path.stat().st_ino
    except FileNotFoundError:
        return "no book beside it"
    return "the book is another file" if owner is not None and owner != ino else None


def _set_wal_aside(path: Path, reason: str) -> None:
    """Kept, not deleted: with the old file (if it still exists elsewhere) it holds that
    file's last commits."""
    wal = Path(f"{path}-wal")
    aside = wal.with_name(f"{wal.name}.orphan-{now_ms()}")
    wal.rename(aside)
    Path(f"{path}-shm").unlink(missing_ok=True)
    log.warning("orphan_wal_moved", path=str(aside), reason=reason)


class Store(BookStore):
    """The SQLite backend of `BookStore`.

    Longer than 200 lines because SQLite's own hazards live here with the writes they
    guard: the lock and seq high-water mark beside the file, the check that the path still
    names the file being written, the WAL kept bounded under readers, and retention in short
    transactions. Each needs the writer's connection and its timing."""

    MARK = "?"
    DB_ERRORS = (sqlite3.Error,)
    logger = log
    state_row = "id = 1"

    def __init__(self, conn: aiosqlite.Connection, path: Path, seqfile: SeqFile,
                 keep_days: float = 0) -> None:
        super().__init__(keep_days)
        self.conn = conn
        self.path = path
        self.seqfile = seqfile
        self.identity = _identity(os.stat(path))  # the file SQLite opened
        # A commit checks once a second that the path still names the files this store
        # holds; when it does not, `lost` says what was found, and nothing more is written.
        self.checked_at = time.monotonic()
        self.wal_checked_at = 0.0
        self.wal_restarts = 0
        self.feed: Feed | None = None  # readers' wake-up on each commit

    @classmethod
    async def open(cls, path: Path, keep_days: float = 0) -> Store:
        """The book at `path`, locked for this process; a StartupError when it cannot be."""
        try:
            _make_room(path)
            seqfile = SeqFile(path)
        except (OSError, StartupError) as exc:
            raise unusable(path, exc) from None
        conn: aiosqlite.Connection | None = None
        try:
            orphaned = _orphaned_wal(path, seqfile.mark.ino if seqfile.mark else None)
            if orphaned:
                _set_wal_aside(path, orphaned)
            connect_migrated(path)
            # sqlite3 opens a BEGIN IMMEDIATE itself before a batch's first write: one
            # thread round trip fewer per batch than sending the BEGIN, which latency feels.
            # Used from the loop's thread (small batches) and from aiosqlite's (all else),
            # never from both at once: the one consumer awaits each use before the next.
            conn = await aiosqlite.connect(path, isolation_level="IMMEDIATE",
                                           check_same_thread=False)
            conn.row_factory = sqlite3.Row
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL",
                           f"busy_timeout={OPEN_BUSY_MS}", f"journal_size_limit={WAL_LIMIT}",
                           f"wal_autocheckpoint={CHECKPOINT_PAGES}"):
                await conn.execute(f"PRAGMA {pragma}")
            store = cls(conn, path, seqfile, keep_days)
            await store._claim()
            await conn.execute(f"PRAGMA busy_timeout={WRITE_BUSY_MS}")
            store.feed = await Feed.open(path)
            return store
        except BaseException as exc:
            if conn is not None:
                await conn.close()
            if seqfile.new:  # made by this attempt, and never written
                seqfile.path.unlink(missing_ok=True)
            seqfile.close()
            if isinstance(exc, OSError | sqlite3.Error | StartupError):
                raise unusable(path, exc) from None
            raise

    async def _claim(self) -> None:
        """Continue the seqs of the book `<db>.seq` names, or, for any other book, above
        every seq that file has reserved, under a new book_id."""
        # sqlite_sequence remembers the highest seq ever used, even once retention has
        # deleted it: a consumer tailing `seq > ?` never sees a number twice.
        async with self.conn.execute(
                "SELECT MAX(COALESCE((SELECT MAX(seq) FROM order_events), 0), COALESCE("
                "(SELECT seq FROM sqlite_sequence WHERE name = 'order_events'), 0)), "
                "(SELECT book_id FROM sync_state WHERE id = 1)") as cur:
            row = await cur.fetchone()
        assert row is not None
        self.committed_seq, self.book_id = row[0], row[1]
        mark = self.seqfile.mark
        changed = None
        if mark is not None:
            if mark.ino != self.identity[1]:
                changed = "another file is at the path"
            elif mark.book_id != self.book_id:
                changed = "the book_id is not the one recorded"
            elif self.committed_seq < mark.reached:
                changed = (f"its seqs end at {self.committed_seq}, below the {mark.reached} "
                           "it had reached")
        after = self.committed_seq
        if mark is not None and changed is not None:
            after = max(after, mark.reserved)
            old_id, self.book_id = self.book_id, secrets.token_hex(16)
            log.warning("book_changed", path=str(self.path), reason=changed,
                        book_id=self.book_id, previous_book_id=mark.book_id,
                        file_book_id=old_id, last_seq=self.committed_seq, next_seq=after + 1)
        self.next_seq = after + 1
        # Recorded before the book says it: a crash between the two makes the next start
        # see a mismatch and pick yet another book_id, which is harmless.
        self.seqfile.write(Mark(self.book_id, self.identity[1], self.committed_seq,
                                after + SEQ_BLOCK, os.getpid()))
        if changed is not None:
            await self.conn.execute("UPDATE sync_state SET book_id = ? WHERE id = 1",
                                    (self.book_id,))
            await self.conn.commit()

    async def close(self) -> None:
        """Close the book; then record how far it got (an older copy put in its place is
        then seen as one), and release the lock, in that order: the next daemon must not
        open the book before this one's last checkpoint."""
        try:
            if self.feed is not None:
                await self.feed.close()
            await self.conn.close()
            if self.lost is not None:
                orphaned = _orphaned_wal(self.path, self.identity[1])
                if orphaned:  # this daemon's WAL, beside a file it does not belong to
                    _set_wal_aside(self.path, orphaned)
            mark = self.seqfile.mark
            if self.lost is None and mark is not None and self.committed_seq > mark.reached:
                self.seqfile.write(Mark(mark.book_id, mark.ino, self.committed_seq,
                                        mark.reserved, mark.pid))
        finally:
            self.seqfile.close()

    async def _rows(self, sql: str, args: Sequence[Any]) -> Sequence[Mapping[str, Any]]:
        async with self.conn.execute(sql, args) as cur:
            return await cur.fetchall()  # type: ignore[return-value]  # sqlite3.Row by name

    async def recall(self, order_ids: list[str]) -> list[tuple[OrderUpdate, int]]:
        async with self.conn.execute(
                "SELECT * FROM orders WHERE order_id IN (SELECT value FROM json_each(?))",
                (json.dumps(order_ids),)) as cur:
            return [(row_from_db(r), r["last_seq"]) for r in await cur.fetchall()]

    def stop_by(self, deadline: float) -> None:
        """Nothing to cut short: a commit never waits for SQLite's lock once the book is
        open (WRITE_BUSY_MS), so it ends by itself, written or failed."""

    async def commit(self, batch: Batch) -> None:
        """One transaction. On failure it rolls back and raises; the caller decides."""
        self._refuse_unknown(batch)
        if self.lost is None and time.monotonic() - self.checked_at >= WAL_CHECK_SECONDS:
            self.checked_at = time.monotonic()
            self._check_paths()
        if self.lost is not None:
            raise BookReplaced(self.lost)
        mark = self.seqfile.mark
        if mark is not None and self.next_seq > mark.reserved:
            # Before any seq above the reservation is committed, so that none is ever used
            # twice, whatever later happens to this file.
            reserved = Mark(mark.book_id, mark.ino, self.committed_seq,
                            self.next_seq - 1 + SEQ_BLOCK, mark.pid)
            await asyncio.to_thread(self.seqfile.write, reserved)
        sets, values = self._state_set(batch)
        update = f"UPDATE sync_state SET {sets} WHERE {self.state_row}"
        started = time.monotonic()
        await written(self.conn, batch, update, values)
        self._committed(batch, started)
        if self.feed is not None:
            self.feed.announce(self.committed_seq)
        if self.committed_at - self.wal_checked_at >= WAL_CHECK_SECONDS:
            self.wal_checked_at = self.committed_at
            await self._bound_wal()
        await self._retain()

    def _check_paths(self) -> None:
        """Does the path still name the book this store writes, and `<db>.seq` the lock it
        holds? If not (deleted, or replaced by another file), writing on would fill a file
        no reader sees, or mix this WAL into another file: stop, and say what was found."""
        for path, expected in ((self.path, self.identity),
                               (self.seqfile.path, self.seqfile.identity)):
            try:
                found = _identity(os.stat(path))
            except FileNotFoundError:
                what = "deleted"
            else:
                if found == expected:
                    continue
                what = f"another file (inode {found[1]}) in place of inode {expected[1]}"
            self.lost = f"{path}: {what}"
            log.error("book_replaced", path=str(path), found=what, last_seq=self.committed_seq,
                      book_id=self.book_id,
                      effect="writing stopped; restart to open the book now at the path")
            self.replaced.set()
            return

    async def prune(self, before_ms: int) -> bool:
        """In seq order: the journal stays a contiguous run of seqs, so a consumer that finds
        its last seq below MIN(seq) knows it missed rows. A row stamped after the cutoff
        (a clock set back) stops the run until it too is old."""
        try:
            async with self.conn.execute("SELECT MIN(seq) FROM order_events") as cur:
                row = await cur.fetchone()
            if row is None or row[0] is None:
                return False
            low = row[0]
            async with self.conn.execute(
                    "SELECT MIN(seq) FROM order_events WHERE seq >= ? AND seq < ? "
                    "AND received_at >= ?", (low, low + PRUNE_CHUNK, before_ms)) as cur:
                row = await cur.fetchone()
            stop = low + PRUNE_CHUNK if row is None or row[0] is None else row[0]
            async with self.conn.execute("DELETE FROM order_events WHERE seq >= ? AND seq < ?",
                                         (low, stop)) as cur:
                deleted = cur.rowcount
            await self.conn.commit()
        except BaseException:
            await self.conn.rollback()
            raise
        self.pruned += deleted
        return deleted == PRUNE_CHUNK

    def gauges(self) -> Gauges:
        try:
            wal = os.stat(f"{self.path}-wal").st_size
        except OSError:
            wal = 0
        feed = self.feed
        return Gauges(wal_bytes=wal, wal_restarts=self.wal_restarts, journal_pruned=self.pruned,
                      feed_readers=0 if feed is None else len(feed.readers),
                      feed_closed={} if feed is None else dict(feed.closed))

    async def _bound_wal(self) -> None:
        """Checkpoint everything and wait, briefly, for readers to leave the WAL, so that the
        next write starts it afresh (and truncates the file to WAL_LIMIT). Readers that keep
        their reads short, as the README asks, leave within milliseconds; one that holds a
        transaction open only delays this until a later try.

        Only a file *past* WAL_LIMIT has a log that grew past it: once restarted, the file
        stays at WAL_LIMIT bytes however few frames it holds, and a restart then would stall
        the writer (waiting for readers) every WAL_CHECK_SECONDS for nothing."""
        try:
            size = os.stat(f"{self.path}-wal").st_size
        except FileNotFoundError:
            return
        if size <= WAL_LIMIT:
            return
        await self.conn.execute("PRAGMA busy_timeout=100")
        try:
            async with self.conn.execute("PRAGMA wal_checkpoint(RESTART)") as cur:
                row = await cur.fetchone()
        finally:
            await self.conn.execute(f"PRAGMA busy_timeout={WRITE_BUSY_MS}")
        if row is not None and row[0] == 0:
            self.wal_restarts += 1
