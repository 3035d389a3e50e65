"""The schema's migrations as both backends number them (`migrations/NNNN_name.sql`, and
PostgreSQL's dialect of each in `migrations/postgres/`), and the errors a start ends with.

`tracker.sqlite.migrate` and `tracker.postgres.migrate` apply them, each recording the
versions its own way."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

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
