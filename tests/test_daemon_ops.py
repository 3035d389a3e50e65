"""The daemon's operational faces: systemd notify, watchdog, reload, metrics."""

from __future__ import annotations

import signal
import socket
import urllib.request
from pathlib import Path

from harness import Lab, eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_notify_watchdog_reload_metrics_and_stop(lab: Lab, tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    messages: list[str] = []

    def drain() -> None:
        while True:
            try:
                messages.append(listener.recv(4096, socket.MSG_DONTWAIT).decode())
            except BlockingIOError:
                return

    def until(prefix: str) -> str:
        def seen() -> str | None:
            drain()
            found = next((m for m in messages if m.startswith(prefix)), None)
            assert found is not None, messages  # eventually() retries on AssertionError
            return found

        return eventually(seen, 20, f"a notify message starting {prefix!r}")

    port = free_port()
    sim = lab.sim("--open-orders", "5")
    daemon = lab.daemon(sim, env={"NOTIFY_SOCKET": str(tmp_path / "notify"),
                                  "WATCHDOG_USEC": "1000000",
                                  "TRACKER_METRICS_PORT": str(port)}).start()
    assert until("READY=1").startswith("READY=1\nSTATUS=connecting")
    until("STATUS=live, 15 open orders")
    until("WATCHDOG=1")
    def live_metrics() -> dict[str, float]:
        values = scrape(port)
        assert values.get("tracker_book_live") == 1
        return values

    metrics = eventually(live_metrics, 20, "metrics saying live")
    assert metrics["tracker_open_orders"] == 15
    assert metrics["tracker_ws_connected"] == 1
    assert metrics['tracker_events_total{outcome="applied"}'] >= 15
    assert metrics["tracker_last_seed_timestamp_seconds"] > 1.7e9
    assert metrics["tracker_db_commit_seconds_count"] >= 1
    assert "tracker_db_wal_bytes" in metrics
    # An injected disconnect: live drops, then recovers after the splice.
    sim.faults(ws_silent=True)
    sim.drop("abort")
    def book_live(expected: float) -> None:
        assert scrape(port)["tracker_book_live"] == expected

    eventually(lambda: book_live(0), 20, "live to drop")
    sim.faults(ws_silent=False)
    eventually(lambda: book_live(1), 30, "live to return")
    assert scrape(port)["tracker_ws_reconnects_total"] >= 1
    # The daemon never waits on a listener: with the listener's queue full (10 datagrams
    # by default, net.unix.max_dgram_qlen) a notification is dropped. The waits above read
    # nothing for seconds while watchdog pings queue up, so the queue is emptied first.
    drain()
    messages.clear()
    daemon.signal(signal.SIGHUP)
    assert until("RELOADING=1").startswith("RELOADING=1\nMONOTONIC_USEC=")
    until("READY=1")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    until("STOPPING=1")
    listener.close()
