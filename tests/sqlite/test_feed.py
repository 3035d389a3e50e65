"""The SQLite book's change feed (`<db>.feed`): readers woken at each commit instead of
polling, and never a way for a reader to hold the writer up. Real Unix sockets, and at the
end the real daemon."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from harness import Lab
from tracker.readers import Wakeup, feed_path
from tracker.sqlite.feed import BACKLOG_LIMIT, Feed


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
        assert feed.dropped == 1 and not feed.readers
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
