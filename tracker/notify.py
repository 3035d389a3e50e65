"""systemd's notify protocol: a datagram of KEY=VALUE lines to $NOTIFY_SOCKET.

The protocol is stable and meant to be reimplemented (systemd's own self-contained example
is this size), so no package is needed; without $NOTIFY_SOCKET every call does nothing.
"""

from __future__ import annotations

import os
import re
import socket
import time


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        valid = re.fullmatch(r"[0-9]{1,15}", usec) is not None  # isdigit() takes '²'
        self.watchdog_interval = int(usec) / 2e6 if valid and mine else None
        self._sock: socket.socket | None = None
        self._last_status = ""

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, **fields: str | int) -> None:
        if not self.address:
            return
        message = "\n".join(f"{k.upper()}={v}" for k, v in fields.items()).encode()
        try:
            if self._sock is None:
                # Non-blocking: a unix datagram send blocks when the listener's queue is
                # full, and a stalled listener must never freeze the event loop.
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM
                                           | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
            self._sock.sendto(message, self.address)
        except OSError:
            pass  # no listener, or it is not reading: a notification is dropped, not waited on

    def ready(self, status: str) -> None:
        self.send(ready=1, status=status)

    def status(self, text: str) -> None:
        if text != self._last_status:
            self._last_status = text
            self.send(status=text)

    def watchdog(self) -> None:
        self.send(watchdog=1)

    def reloading(self) -> None:
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send(reloading=1, monotonic_usec=monotonic_usec)

    def stopping(self) -> None:
        self.send(stopping=1, status="stopping")
