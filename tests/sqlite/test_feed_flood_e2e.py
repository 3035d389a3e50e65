"""The change feed under a flood, on the real daemon: whoever may read the book can connect
to `<db>.feed` as often as they like, send into it, and hold connections open; none of it
may cost the daemon its book, its /metrics, its exchange connection or its log.

The daemon runs with a low limit on open descriptors (its RLIMIT_NOFILE, set before it
starts), as an unconfigured systemd service would have (1,024): a flood then reaches the
limit with a few hundred connections instead of thousands."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness import Lab, eventually, logged
from harness.flood import FeedFlood
from tests.test_daemon_ops import free_port, scrape


def feed_log(log: Path) -> list[str]:
    """The daemon's log lines from the feed, and any with a traceback in them."""
    return [line for line in log.read_text(errors="replace").splitlines()
            if '"tracker.feed"' in line or '"exception"' in line or "Traceback" in line]


def flooded(flood: FeedFlood, tries: int, timeout: float = 60) -> None:
    """Until the flood has tried to connect `tries` times (a daemon out of descriptors
    makes them fail)."""
    def reached() -> None:
        assert flood.connects + flood.failures >= tries, (flood.connects, flood.failures)
    eventually(reached, timeout, f"the flood tried {tries} connections")


def test_a_flood_past_readers_max_is_refused_logged_once_and_the_book_stays_live(
        lab: Lab) -> None:
    port = free_port()
    sim = lab.sim("--open-orders", "5", "--rate", "5")
    # 256 descriptors: the feed takes 64 readers (a quarter), the flood holds 400.
    daemon = lab.daemon(sim, env={"TRACKER_METRICS_PORT": str(port)}, nofile=256).start()
    daemon.wait_live()
    flood = FeedFlood(daemon.db, held=400).start()
    try:
        flooded(flood, 600)
        metrics = scrape(port)  # answered while flooded
        assert metrics["tracker_book_live"] == 1 and metrics["tracker_ws_connected"] == 1
        assert 0 < metrics["tracker_feed_readers"] <= 64
        assert metrics['tracker_feed_closed_total{reason="readers_max"}'] > 200
        assert metrics['tracker_feed_closed_total{reason="sent"}'] > 0
        daemon.wait_live(5)
        order = sim.place()["orderId"]

        def journaled() -> None:
            assert daemon.journal(order), "no journal row yet"
        eventually(journaled, 10, "a new order is journaled while flooded")
    finally:
        flood.stop()
    [limited] = logged(daemon.log, "feed_readers_limited")
    assert limited["readers_max"] == 64 and limited["nofile_limit"] == 256
    [capped] = logged(daemon.log, "feed_readers_capped")
    assert capped["readers_max"] == 64
    assert len(logged(daemon.log, "feed_reader_sent")) == 1
    # One line for each thing the flood did, whatever the number of connections.
    assert len(feed_log(daemon.log)) <= 6, feed_log(daemon.log)[:10]


def test_a_reader_that_sends_megabytes_is_closed_at_once(lab: Lab) -> None:
    sim = lab.sim("--open-orders", "5", "--rate", "0")
    daemon = lab.daemon(sim).start()
    daemon.wait_live()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(f"{daemon.db}.feed")
    chunk = b"x" * (64 << 10)
    sent = 0
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        while sent < 64 << 20:
            sent += sock.send(chunk)
    sock.close()
    # What the kernel took before the daemon closed it: the sockets' buffers, no more.
    assert sent < 1 << 20, sent
    [closed] = logged(daemon.log, "feed_reader_sent")
    assert "closed" in closed["effect"]
    daemon.wait_live(5)


def test_with_few_descriptors_a_flood_leaves_the_exchange_room_to_reconnect(
        lab: Lab) -> None:
    sim = lab.sim("--open-orders", "20", "--rate", "20")
    # 64 descriptors: 16 for feed readers, the rest for the exchange, the book and the log.
    daemon = lab.daemon(sim, nofile=64).start()
    daemon.wait_live()
    flood = FeedFlood(daemon.db, held=300).start()
    try:
        flooded(flood, 500)
        for _ in range(3):  # the exchange's socket dropped, while flooded: reconnected
            epoch = daemon.book().state["epoch"]
            assert sim.drop("abort") >= 1
            daemon.wait_live(30, epoch_above=epoch)
        sim.flow(0)
        daemon.wait_converged(sim)
        flooded(flood, flood.connects + 200, 30)  # and went on throughout
    finally:
        flood.stop()
    [limited] = logged(daemon.log, "feed_readers_limited")
    assert limited["readers_max"] == 16
    assert len(logged(daemon.log, "feed_readers_capped")) == 1
    assert len(feed_log(daemon.log)) <= 6, feed_log(daemon.log)[:10]
