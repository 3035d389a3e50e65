"""Which database keeps the book, chosen once from `db` (`choose`): a path is an SQLite
file, a `postgresql://` or `postgres://` URL a PostgreSQL database. The commands ask the
backend they were given, so none of them tells the two apart itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tracker import config
from tracker.postgres.backend import Postgres
from tracker.sqlite.backend import Sqlite

if TYPE_CHECKING:
    from tracker.config import Config
    from tracker.migrate import StartupError
    from tracker.readers import Journal
    from tracker.storage import BookStore

T = TypeVar("T")


class Follower(Protocol):
    """`tracker watch`'s hold on a book: reads of its journal, and waits for its writer's
    next commit."""

    retry_max: float  # the longest pause between two tries at a book that cannot be read

    def read(self, query: Callable[[Journal], T]) -> T:
        """`query` in one read transaction; Unavailable when the book cannot be read."""

    def wait(self, interrupted: Callable[[], bool]) -> object:
        """Until the writer announces a commit, or the backend's own timer runs out."""

    def close(self) -> None:
        """Let go of the connection; the next read opens another."""


class Reader(Protocol):
    """A book as the read-only commands ask it."""

    def open_orders(self, symbol: str | None) -> tuple[list[dict[str, Any]], bool]:
        """The open orders (of `symbol`), and whether the book ever held an order of
        `symbol`, open or not (always True without one)."""

    def status(self) -> dict[str, Any]:
        """The `sync_state` row, the open-order count and the schema version from one read,
        judged as `tracker.readers.judged` judges them."""

    def every_account(self, symbol: str | None) -> tuple[
            list[dict[str, Any]], bool, dict[str, dict[str, Any]]]:
        """`open_orders` of every account, each row with its `account`, and each account's
        state as `status` gives it, from one read. Only a book of accounts has it: `locate`
        refuses `every` for the others."""

    def follower(self) -> Follower: ...


class Backend(Protocol):
    """What the commands ask of the database that keeps the book."""

    @property
    def shown(self) -> str:
        """The book as every message names it: a path, or a URL without its password."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """What `db` itself holds that no log line may show (a URL's password)."""

    @property
    def standbys(self) -> bool:
        """Whether other trackers may wait to write this book, so that one that lost it
        waits again as their standby instead of exiting."""

    def migrate(self) -> tuple[int, int]:
        """Create or upgrade the book's schema: the version before and after. Every
        failure is a StartupError of one line."""

    async def open_store(self, config: Config,
                         standby: Callable[[str], None] | None = None,
                         unreachable: Callable[[str | None], None] | None = None
                         ) -> BookStore:
        """The book migrated and locked for this process's writer, or a StartupError. On a
        book with standbys, `standby` hears who holds it while this waits for it. On a
        server, `unreachable` hears why it cannot be reached while this waits for it, then
        None once it answers."""

    def unusable(self, exc: Exception) -> StartupError | None:
        """The StartupError that the database's own error at the first read or write
        becomes; None for any other exception."""

    def reader(self, config_file: Path | None, env: Mapping[str, str], account: str | None,
               *, every: bool = False) -> Reader:
        """The book of `account` (every account's with `every`), where the book holds
        accounts; a ConfigError where the setting does not fit the book."""


def choose(db: Path | str, env: Mapping[str, str]) -> Backend:
    """The backend of `db`, with what it needs to connect: a PostgreSQL database its
    password from the tracker's own secret sources (the systemd credential `db_password`,
    `TRACKER_DB_PASSWORD_FILE`, `TRACKER_DB_PASSWORD`; none: libpq's, .pgpass or
    PGPASSWORD), read here once for every command, the writer's, `migrate` and the
    readers alike."""
    if config.is_url(db):
        return Postgres(str(db), config.secret(config.DB_PASSWORD, env))
    return Sqlite(Path(db))


def locate(config_file: Path | None, env: Mapping[str, str], db: str | None,
           account: str | None, *, every: bool = False) -> Reader:
    """The book a reader reads, from the flags, the environment and the file, as `tracker
    run` finds its own. Only a URL looks for an account and a password: an SQLite reader
    needs neither."""
    backend = choose(config.db_target(config_file, env, db), env)
    return backend.reader(config_file, env, account, every=every)
