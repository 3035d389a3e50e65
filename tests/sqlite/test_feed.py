"""The SQLite book's change feed (`<db>.feed`): readers woken at each commit instead of
polling, and never a way for a reader to hold the writer up. Real Unix sockets, and at the
end the real daemon."""

from __future__ import annotations

import asyncio
import errno
import json
import resource
import signal
import socket
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from harness import Lab
from tracker.readers import Wakeup, feed_path
from tracker.sqlite import feed as feed_module
from tracker.sqlite.feed import BACKLOG_LIMIT, READERS_MAX, Feed, readers_max


def book_file(tmp_path: Path, mode: int = 0o640) -> Path:
    book = tmp_path / "book.db"
    book.write_bytes(b"")
    book.chmod(mode)
    return book


async def connected(feed: Feed, n: int) -> None:
    """Until the feed has taken `n` readers' connections (the loop accepts them)."""
    for _ in range(500):
        if len(feed.readers) >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(feed.readers)} readers connected, not {n}")


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Path, Feed]]:
    book = book_file(tmp_path)
    feed = await Feed.open(book)
    assert feed is not None
    try:
        yield book, feed
    finally:
        await feed.close()


def raw_reader(book: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(feed_path(book)))
    return sock


async def test_each_commit_wakes_every_reader_with_the_seq(tmp_path: Path) -> None:
    async with serving(tmp_path) as (book, feed):
        raw = raw_reader(book)
        wakeup = Wakeup(book)
        assert await asyncio.to_thread(wakeup.wait, 0.05) is False  # connected, no commit
        await connected(feed, 2)
        woken = asyncio.create_task(asyncio.to_thread(wakeup.wait, 10.0))
        await asyncio.sleep(0.05)
        feed.announce(41)
        feed.announce(42)
        assert await woken is True
        raw.settimeout(5)
        lines = b""
        while lines.count(b"\n") < 2:
            lines += await asyncio.to_thread(raw.recv, 1024)
        assert [json.loads(line) for line in lines.splitlines()] == [{"seq": 41}, {"seq": 42}]
        raw.close()
        wakeup.close()
    assert not feed_path(book).exists()


async def test_a_reader_that_does_not_read_is_dropped_and_never_holds_the_writer(
        tmp_path: Path) -> None:
    async with serving(tmp_path) as (book, feed):
        stuck = raw_reader(book)
        await connected(feed, 1)
        started = time.monotonic()
        for seq in range(200_000):  # 2.6 MB of lines, far past the socket's buffers
            feed.announce(seq)
            if seq % 1000 == 0:
                await asyncio.sleep(0)  # the loop flushes what the socket takes
        assert time.monotonic() - started < 30
        assert feed.closed["backlog"] == 1 and not feed.readers
        assert BACKLOG_LIMIT < 2_600_000
        stuck.close()


async def test_a_killed_daemon_s_socket_is_replaced_and_only_our_own_removed(
        tmp_path: Path) -> None:
    book = book_file(tmp_path, 0o644)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(feed_path(book)))  # left behind: nobody listens on it
    stale.close()
    feed = await Feed.open(book)
    assert feed is not None
    # Connectable by whoever may read the book: owner, group and others here.
    assert stat.S_IMODE(feed_path(book).stat().st_mode) == 0o666
    assert await asyncio.to_thread(Wakeup(book)._connect)
    # The book was replaced and a later daemon made its own socket at the path: closing
    # this feed must leave that one alone.
    feed_path(book).unlink()
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(feed_path(book)))
    await feed.close()
    assert feed_path(book).is_socket()
    other.close()


async def test_a_socket_path_too_long_leaves_the_book_without_a_feed(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    assert await Feed.open(book_file(deep)) is None


def events(logs: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [entry for entry in logs if entry["event"] == name]


async def refused(sock: socket.socket) -> bool:
    """Whether the feed closed this connection (EOF) within a few seconds."""
    sock.settimeout(5)
    return await asyncio.to_thread(sock.recv, 64) == b""


async def test_connections_past_readers_max_are_closed_at_once_and_logged_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_module, "READERS_MAX", 4)
    monkeypatch.setattr(feed_module, "QUIET_SECONDS", 0.3)
    with capture_logs() as logs:
        async with serving(tmp_path) as (book, feed):
            assert feed.readers_max == 4
            readers = [raw_reader(book) for _ in range(4)]
            await connected(feed, 4)
            # From a thread: past the listen backlog a connect waits for the loop to accept.
            flood = await asyncio.to_thread(lambda: [raw_reader(book) for _ in range(100)])
            assert all([await refused(sock) for sock in flood])
            assert len(feed.readers) == 4 and feed.closed["readers_max"] == 100
            feed.announce(7)  # the readers within the cap are served as before
            for sock in readers:
                sock.settimeout(5)
                assert await asyncio.to_thread(sock.recv, 64) == b'{"seq": 7}\n'
            await asyncio.sleep(0.6)  # the episode ends after QUIET_SECONDS without refusal
            for sock in readers + flood:
                sock.close()
    [capped] = events(logs, "feed_readers_capped")
    assert capped["readers_max"] == 4 and capped["readers"] == 4
    [ended] = events(logs, "feed_readers_capped_ended")
    assert ended["refused"] == 100
    assert len([e for e in logs if e["event"] != "feed_reader_sent"]) == 2, logs


async def test_a_reader_that_sends_is_closed_after_one_small_read(tmp_path: Path) -> None:
    async with serving(tmp_path) as (book, feed):
        listener = raw_reader(book)
        await connected(feed, 1)
        with capture_logs() as logs:
            senders = [raw_reader(book) for _ in range(3)]
            await connected(feed, 4)
            taken = []
            for sender in senders:
                taken.append(await asyncio.to_thread(send_until_closed, sender))
        # Closed at the first bytes: the kernel's buffers took the rest, the daemon nothing.
        assert all(0 < n < 1 << 20 for n in taken), taken
        assert feed.readers == {t for t in feed.readers} and len(feed.readers) == 1
        assert feed.closed["sent"] == 3
        assert len(events(logs, "feed_reader_sent")) == 1
        listener.close()


def send_until_closed(sock: socket.socket, limit: int = 64 << 20) -> int:
    """Bytes sent before the other end closed (up to `limit`, which means it never did)."""
    sock.settimeout(10)
    sent = 0
    try:
        while sent < limit:
            sent += sock.send(b"x" * (64 << 10))
    except (BrokenPipeError, ConnectionResetError):
        return sent
    finally:
        sock.close()
    return sent


class StarvedSocket:
    """The feed's listening socket as a process out of descriptors has it: readable, as a
    connection waits, and every accept failing with EMFILE."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.accepts = 0

    def fileno(self) -> int:
        return self.real.fileno()

    def accept(self) -> tuple[socket.socket, object]:
        self.accepts += 1
        raise OSError(errno.EMFILE, "Too many open files")

    def close(self) -> None:
        self.real.close()


async def test_accept_failing_for_want_of_descriptors_backs_off_and_is_logged_once(
        tmp_path: Path) -> None:
    with capture_logs() as logs:
        async with serving(tmp_path) as (book, feed):
            asyncio.get_running_loop().remove_reader(feed.sock.fileno())
            starved = StarvedSocket(feed.sock)
            feed.sock = starved  # type: ignore[assignment]
            feed.listen()
            waiting = raw_reader(book)  # keeps the socket readable
            await asyncio.sleep(2.0)
            # Paused 0.1, 0.2, 0.4, 0.8 s ...: a handful of tries, not a spin of thousands.
            assert 3 <= starved.accepts <= 8, starved.accepts
            waiting.close()
    [failed] = events(logs, "feed_accept_failed")
    assert failed["error"] == "Too many open files"
    [ended] = events(logs, "feed_accept_failed_ended")
    assert ended["failures"] == starved.accepts


async def test_a_client_connecting_in_a_loop_is_taken_at_a_bounded_rate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_module, "ACCEPTS_PER_SECOND", 100)

    def hammer(book: Path, times: int) -> float:
        started = time.monotonic()
        for _ in range(times):
            sock = raw_reader(book)  # waits while the backlog is full
            sock.send(b"x")
            sock.close()
        return time.monotonic() - started

    async with serving(tmp_path) as (book, feed):
        seconds = await asyncio.to_thread(hammer, book, 400)
        # The first 64 at once, one backlog's worth waiting, the rest at 100 a second.
        assert 2.0 <= seconds < 10, seconds
        await asyncio.sleep(0.5)
        assert feed.closed["sent"] + feed.closed["readers_max"] >= 300


def test_readers_max_is_a_quarter_of_a_low_descriptor_limit() -> None:
    assert readers_max(resource.RLIM_INFINITY) == READERS_MAX == 256
    assert readers_max(1 << 20) == readers_max(1024) == 256
    assert readers_max(256) == 64 and readers_max(64) == 16 and readers_max(3) == 1


async def test_a_refused_reader_waits_out_its_timeout_instead_of_reconnecting_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_module, "READERS_MAX", 1)
    async with serving(tmp_path) as (book, feed):
        first = raw_reader(book)
        await connected(feed, 1)
        left_out = Wakeup(book)
        started = time.monotonic()
        for _ in range(3):
            assert await asyncio.to_thread(left_out.wait, 0.2) is False
        assert time.monotonic() - started >= 0.6
        assert feed.closed["readers_max"] <= 3
        first.close()


def test_without_a_daemon_a_wait_is_a_timer(tmp_path: Path) -> None:
    started = time.monotonic()
    assert Wakeup(book_file(tmp_path)).wait(0.2) is False
    assert time.monotonic() - started >= 0.2


def test_the_daemon_wakes_a_reader_on_its_commits_and_takes_the_feed_away_at_stop(
        lab: Lab) -> None:
    sim = lab.sim("--open-orders", "5", "--rate", "0")
    daemon = lab.daemon(sim).start()
    daemon.wait_live()
    wakeup = Wakeup(daemon.db)
    assert wakeup.wait(2.0)  # connected; the heartbeat commits at least once a second
    while wakeup.wait(0.0):
        pass
    order = sim.place()["orderId"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert wakeup.wait(deadline - time.monotonic()), "no wake-up for the new order"
        if daemon.journal(order):
            break
    else:
        raise AssertionError("the order's journal row never came")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    assert not feed_path(daemon.db).exists()
    for _ in range(20):  # the last commits' lines, then the end of the feed
        if not wakeup.wait(1.0):
            break
    assert wakeup.sock is None, "the feed was not closed by the daemon's stop"
