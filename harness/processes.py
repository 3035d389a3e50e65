"""Starting and stopping `tracker` commands as subprocesses, in an environment of their own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

TRACKER = [sys.executable, "-m", "tracker.cli"]


def clean_env() -> dict[str, str]:
    """The caller's environment without anything that would configure a tracker."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("TRACKER_", "WATCHDOG_"))
            and k not in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "NOTIFY_SOCKET")}


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no {path.name})"
    return "\n".join(text.splitlines()[-lines:])


def logged(path: Path, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of `event` in a process's log, in order; other lines (start
    markers, tracebacks, a line cut short by a kill) are passed over."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if not (line.startswith("{") and f'"{event}"' in line):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            found.append(record)
    return found


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if it does not exit in time; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def run_once(env: dict[str, str], *args: str, timeout: float = 30.0
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRACKER, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)
