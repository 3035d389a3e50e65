"""A throwaway PostgreSQL server for the tests: a cluster of its own in a temporary directory,
listening on 127.0.0.1 and a private unix socket, deleted when stopped.

Debian's PostgreSQL 15 binaries run it (`.ci/run` installs them where absent). PostgreSQL
refuses to run as root, so as root every server command runs as the `postgres` user through
runuser, in a directory that user owns. The superuser connects through the socket without a
password; TCP asks for one (scram-sha-256), as a real server would, so that a URL's password
and libpq's other sources of one are exercised for real.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")
SERVER_USER = "postgres"  # the role and, as root, the system user the server runs as


@dataclass(frozen=True)
class Database:
    """A database of the server and the role that owns it, of the same name."""

    name: str
    password: str
    port: int

    def url(self, *, password: bool = True) -> str:
        """A libpq URL over TCP; without the password, libpq looks for it in PGPASSWORD or
        .pgpass, as it would for a user."""
        secret = f":{quote(self.password, safe='')}" if password else ""
        return f"postgresql://{self.name}{secret}@127.0.0.1:{self.port}/{self.name}"


@dataclass
class Postgres:
    root: Path
    port: int
    names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[Postgres]:
        """A server for the `with` block, stopped and deleted after it, whatever happens."""
        server = cls.start()
        try:
            yield server
        finally:
            server.stop()

    @classmethod
    def start(cls) -> Postgres:
        if not (BIN / "initdb").is_file():
            raise RuntimeError(f"no PostgreSQL 15 in {BIN}: apt-get install postgresql-15 "
                               "(.ci/run does)")
        server = cls(Path(tempfile.mkdtemp(prefix="tracker-pg-")), free_port())
        try:
            server._create()
            server._run(BIN / "pg_ctl", "start", "-w", "-t", "60", "-D", server.data,
                        "-l", server.log)
        except BaseException:
            server.stop()
            raise
        return server

    def _create(self) -> None:
        self.socket_dir.mkdir(mode=0o700)
        # initdb wants the superuser's password to turn password authentication on; nothing
        # uses it afterwards (the superuser comes through the socket).
        pwfile = self.root / "pwfile"
        pwfile.write_text(secrets.token_urlsafe(16))
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            for path in (self.root, self.socket_dir, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        try:
            self._run(BIN / "initdb", "-D", self.data, "-U", SERVER_USER, "-E", "UTF8",
                      "--no-locale", "--no-sync", "--auth-local=trust",
                      "--auth-host=scram-sha-256", f"--pwfile={pwfile}")
        finally:
            pwfile.unlink()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.socket_dir}'\n"
                       # A throwaway cluster: losing it to a power cut loses nothing.
                       "fsync = off\nfull_page_writes = off\n")

    def _run(self, *command: str | Path) -> None:
        argv = [str(part) for part in command]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        done = subprocess.run(argv, cwd=self.root, env=env, capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}"
                               f"{done.stderr}{log[-4000:]}")

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """The superuser, through the socket, in autocommit."""
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=SERVER_USER,
                               dbname=dbname, autocommit=True)

    def create_database(self) -> Database:
        """A new empty database owned by a new role of the same name, neither of them a
        superuser: the tracker gets no more than a user would grant it."""
        db = Database(f"book{next(self.names)}", secrets.token_urlsafe(12), self.port)
        with self.connect() as conn:
            conn.execute(f"CREATE ROLE {db.name} LOGIN PASSWORD '{db.password}'")
            conn.execute(f"CREATE DATABASE {db.name} OWNER {db.name}")
        return db

    def create_reader(self, db: Database) -> str:
        """A read-only role for `db`, granted as docs/postgres.md grants `book_reader`
        (SELECT on whatever the owner creates, now and later): its URL, with the password."""
        name, password = f"{db.name}_reader", secrets.token_urlsafe(12)
        with self.connect(db.name) as conn:
            conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
            conn.execute(f"GRANT CONNECT ON DATABASE {db.name} TO {name}")
            conn.execute(f"GRANT USAGE ON SCHEMA public TO {name}")
            conn.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {db.name} IN SCHEMA public "
                         f"GRANT SELECT ON TABLES TO {name}")
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}")
        return f"postgresql://{name}:{password}@127.0.0.1:{db.port}/{db.name}"

    def crash(self) -> None:
        """`pg_ctl stop -m immediate`: every server process ends at once, as in a power cut
        (the next start recovers from the WAL)."""
        self._run(BIN / "pg_ctl", "stop", "-w", "-m", "immediate", "-D", self.data)

    def restart(self) -> None:
        self._run(BIN / "pg_ctl", "start", "-w", "-t", "60", "-D", self.data, "-l", self.log)

    def pids(self) -> list[int]:
        """The postmaster and every process it started (its backends among them)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                                  text=True, check=False).stdout.split()
        return [postmaster, *map(int, children)]

    def freeze(self) -> list[int]:
        """SIGSTOP the whole server: connections stay open and nothing answers, as with a
        host that hangs. Returns what `thaw` must wake."""
        frozen = self.pids()
        for pid in frozen:
            # A backend may end between the listing and the signal: nothing to freeze there.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        return frozen

    @staticmethod
    def thaw(frozen: list[int]) -> None:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(BIN / "pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_args(args: Sequence[str | Database],
             env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """`args` with each Database as its URL without the password, which goes to the tracker
    as docs/postgres.md says to give it (TRACKER_DB_PASSWORD): a password in `--db` is in
    argv, every local user's to read, and the tracker warns of it."""
    words = [a.url(password=False) if isinstance(a, Database) else a for a in args]
    passwords = [a.password for a in args if isinstance(a, Database)]
    return words, env | ({"TRACKER_DB_PASSWORD": passwords[0]} if passwords else {})


def client_env(base: dict[str, str]) -> dict[str, str]:
    """`base` without the caller's own PG* settings (PGHOST, PGPASSWORD, ...), which would
    otherwise reach the tracker's libpq along with the test's URL."""
    return {k: v for k, v in base.items() if not k.startswith("PG")}
