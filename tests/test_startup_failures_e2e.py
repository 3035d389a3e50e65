"""A start that cannot happen ends with one line on stderr naming the cause and a sysexits
code (73 the book cannot be written, 74 I/O, 75 busy, 69 unavailable, 78 configuration,
which systemd does not restart), never a traceback, and never changes a file it refuses.

Each case runs the real `tracker run`; those that fail before the network need no exchange
(the URLs point at a closed port, so a start that wrongly went ahead would hang, not pass).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import CREDENTIALS, FAST, TRACKER, Lab, clean_env, read_book
from harness.profiles import BINANCE, OKX, Profile
from simulator.state import DEMO_ACCOUNT

EX_UNAVAILABLE, EX_CANTCREAT, EX_IOERR, EX_TEMPFAIL, EX_CONFIG = 69, 73, 74, 75, 78
NOWHERE = {"TRACKER_SYMBOLS": "BTC_USDT", "TRACKER_REST_URL": "http://127.0.0.1:9",
           "TRACKER_WS_URL": "ws://127.0.0.1:9/user"}


def start(db: Path, env: dict[str, str] | None = None,
          wrap: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*wrap, *TRACKER, "run", "--db", str(db)], capture_output=True,
                          text=True, timeout=60,
                          env=clean_env() | CREDENTIALS | FAST | NOWHERE | (env or {}))


def refused(done: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The run ended with `code` and one line on stderr that says `words`."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("tracker: "), done.stderr[-2000:]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def make_book(db: Path) -> None:
    done = subprocess.run([*TRACKER, "migrate", "--db", str(db)], capture_output=True,
                          text=True, timeout=30, env=clean_env())
    assert done.returncode == 0, done.stderr


def test_db_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "book").mkdir()
    refused(start(tmp_path / "book"), EX_CANTCREAT, "is a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book"]  # nothing left beside it


def test_db_whose_directory_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("in the way")
    refused(start(tmp_path / "a-file" / "book.db"), EX_CANTCREAT,
            f"cannot create the book in {tmp_path / 'a-file'}: not a directory")


def test_db_in_a_missing_directory_is_refused_not_made(tmp_path: Path) -> None:
    """A mistyped directory is not made (it was, parents and all): `run` and `migrate` say
    so in one line, exit 73, and leave nothing behind."""
    mistyped = tmp_path / "mistyped" / "dir" / "book.db"
    line = f"tracker: db: cannot create the book in {mistyped.parent}: no such directory"
    refused(start(mistyped), EX_CANTCREAT, line)
    done = subprocess.run([*TRACKER, "migrate", "--db", str(mistyped)], capture_output=True,
                          text=True, timeout=30, env=clean_env())
    assert (done.returncode, done.stdout) == (EX_CANTCREAT, "")
    assert done.stderr == f"{line} (create the directory first)\n"
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A book this process cannot write: root ignores file modes, so as root the file is
    made immutable instead (and made mutable again afterwards, or it cannot be removed)."""
    db = tmp_path / "book.db"
    make_book(db)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(db)], check=True)
        try:
            yield db
        finally:
            subprocess.run(["chattr", "-i", str(db)], check=True)
    else:
        db.chmod(0o444)
        yield db


def test_a_read_only_book(read_only: Path) -> None:
    before = read_only.read_bytes()
    refused(start(read_only), EX_CANTCREAT, f"cannot write {read_only}")
    assert read_only.read_bytes() == before


def test_a_foreign_database_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)")
    conn.execute("INSERT INTO orders (note) VALUES ('theirs')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    refused(start(db), EX_CONFIG, "not a tracker book", "orders")
    assert db.read_bytes() == before  # not migrated, not even switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_a_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "book.db"
    make_book(db)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    refused(start(db), EX_CONFIG, "schema 99", "upgrade the tracker")


@pytest.mark.parametrize("damage", ["not a database", "a damaged schema page"])
def test_a_damaged_book(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "book.db"
    make_book(db)
    data = bytearray(db.read_bytes())
    if damage == "not a database":
        data[:100] = os.urandom(100)  # the header, with its magic string
    else:
        data[100:4096] = b"\xa5" * 3996  # page 1 after the header: sqlite_master
    db.write_bytes(bytes(data))
    line = refused(start(db), EX_IOERR, str(db), "restore it from a backup",
                   "move it away")
    assert "malformed" in line or "not a database" in line
    assert db.read_bytes() == bytes(data)


def test_disk_full_at_start(tmp_path: Path) -> None:
    """On a small tmpfs of its own (a private mount namespace, gone with the process), with
    the book copied in and the rest filled, at two levels: nothing free, and room for
    the lock file but not for the first commit."""
    db = tmp_path / "book.db"
    make_book(db)
    mnt = tmp_path / "small"
    mnt.mkdir()
    for leave_kib in (0, 40):
        script = (f"mount -t tmpfs -o size=512k tmpfs {mnt} && cp {db} {mnt}/ && "
                  f"(dd if=/dev/zero of={mnt}/fill bs=4k 2>/dev/null; "
                  f"truncate -s -{leave_kib}k {mnt}/fill) && exec \"$@\"")
        done = start(mnt / "book.db", wrap=("unshare", "--mount", "sh", "-c", script, "sh"))
        refused(done, EX_IOERR, "no space left", str(mnt / "book.db"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_port_in_use_and_a_second_daemon(lab: Lab) -> None:
    """Neither start touches the book: `status` still says what the first run left."""
    sim = lab.sim("--open-orders", "2")
    first = lab.daemon(sim).start()
    first.wait_live()
    # The same book while the first daemon writes it: refused, naming the holder.
    second = start(first.db, {"TRACKER_REST_URL": sim.rest_url, "TRACKER_WS_URL": sim.ws_url})
    refused(second, EX_TEMPFAIL, "in use by another tracker", f"pid {first.pid}")
    assert first.alive() and read_book(first.db).state["pid"] == first.pid
    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    stopped = read_book(first.db).state

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        done = start(first.db, {"TRACKER_METRICS_PORT": str(port),
                                "TRACKER_REST_URL": sim.rest_url, "TRACKER_WS_URL": sim.ws_url})
    refused(done, EX_UNAVAILABLE, "metrics_port", f"127.0.0.1:{port}")
    assert read_book(first.db).state == stopped  # no "starting", no fresh heartbeat
    status = subprocess.run([*TRACKER, "status", "--json", "--db", str(first.db)],
                            capture_output=True, text=True, timeout=30, env=clean_env())
    assert status.returncode == 3, status.stdout  # not running

    # With the port free, the same book starts and goes live again.
    lab.daemon(sim).start().wait_live()


# The venues that check the symbols configured against their list at start: the symbols
# the tracker is given, the one the venue does not list, and what the line says of it.
UNLISTED = [(BINANCE, "BTCUSDT,NOPEUSDT,ETHUSDT", "NOPEUSDT", "is not a symbol Binance lists"),
            (OKX, "BTC-USDT,NOPE-USDT", "NOPE-USDT", "is not a spot instrument OKX lists")]


@pytest.mark.parametrize(("profile", "symbols", "unlisted", "said"), UNLISTED,
                         ids=[str(profile) for profile, *_ in UNLISTED])
def test_a_symbol_the_venue_does_not_list_is_a_configuration_error(
        lab: Lab, profile: Profile, symbols: str, unlisted: str, said: str) -> None:
    """One line naming the symbol, exit 78 (systemd does not restart it), nothing secret."""
    sim = lab.sim()
    daemon = lab.daemon(sim, profile=profile, env={"TRACKER_SYMBOLS": symbols}).start()
    assert daemon.wait(60) == EX_CONFIG, daemon.tail()
    lines = [line for line in daemon.tail(400).splitlines() if unlisted in line]
    assert lines and said in lines[-1], daemon.tail()
    assert "Traceback" not in daemon.tail(400)
    assert DEMO_ACCOUNT.secret not in daemon.tail(400)


def test_a_book_locked_by_another_process(tmp_path: Path) -> None:
    """A process holding SQLite's write lock past the busy timeout (5 s) at start: busy, 75,
    and systemd tries again later."""
    db = tmp_path / "book.db"
    make_book(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = start(db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    refused(done, EX_TEMPFAIL, "locked", str(db))
