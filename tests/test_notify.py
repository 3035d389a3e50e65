"""systemd's notify protocol against a fake NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from tracker.notify import Notifier


@pytest.mark.parametrize("abstract", [False, True])
def test_messages_reach_the_socket(tmp_path: Path, abstract: bool) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"@tracker-test-{os.getpid()}" if abstract else str(tmp_path / "notify")
    listener.bind("\0" + name[1:] if abstract else name)
    listener.settimeout(2)
    notifier = Notifier({"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "4000000"})
    assert notifier.enabled and notifier.watchdog_interval == 2.0
    notifier.ready("connecting")
    notifier.status("live, 3 open orders")
    notifier.status("live, 3 open orders")  # unchanged: not sent again
    notifier.watchdog()
    notifier.reloading()
    notifier.stopping()
    got = [listener.recv(4096).decode() for _ in range(5)]
    assert got[0] == "READY=1\nSTATUS=connecting"
    assert got[1] == "STATUS=live, 3 open orders"
    assert got[2] == "WATCHDOG=1"
    assert got[3].startswith("RELOADING=1\nMONOTONIC_USEC=")
    assert got[4] == "STOPPING=1\nSTATUS=stopping"
    listener.close()


def test_without_systemd_nothing_happens() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_interval is None
    notifier.ready("x")  # no socket, no error


def test_watchdog_for_another_pid_is_not_ours() -> None:
    notifier = Notifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000",
                         "WATCHDOG_PID": "1"})
    assert notifier.watchdog_interval is None
    notifier.ready("x")  # an unreachable socket is not an error either


def test_a_listener_that_does_not_read_never_blocks(tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "full"))
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "full")})
    started = time.monotonic()
    for _ in range(5000):  # far more than a datagram queue holds
        notifier.watchdog()
    assert time.monotonic() - started < 5
    assert listener.recv(4096) == b"WATCHDOG=1"
    listener.close()
