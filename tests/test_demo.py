"""`tracker demo` as a user runs it: the installed console script as a real subprocess, the
simulator and the daemon behind it, piped into another program and on a (pseudo-)terminal."""

from __future__ import annotations

import fcntl
import itertools
import os
import pty
import queue
import re
import select
import shlex
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TRACKER = str(Path(sys.executable).parent / "tracker")
DEMO = [TRACKER, "demo", "--rate", "20", "--open-orders", "3"]
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LIVE_LINE = re.compile(r"^\d\d:\d\d:\d\d LIVE since \d\d:\d\d:\d\d UTC \| (\d+) open orders "
                       r"\(([^)]*)\) \| applied (\d+), duplicate \d+, stale \d+, invalid \d+, "
                       r"unresolved \d+ \| (?:last event [\d.]+ s ago|no event yet)$")
VERDICT = re.compile(r"the book matches the exchange: \d+ open orders, all exact")


@pytest.mark.parametrize(("venue", "symbol"), [("bitmart", "BTC_USDT"), ("binance", "BTCUSDT"),
                                              ("okx", "BTC-USDT")])
def test_piped_plain_lines_name_the_book_and_end_with_a_verdict(tmp_path: Path, venue: str,
                                                                symbol: str) -> None:
    """`tracker demo --venue V` (`make demo VENUE=V`): the simulator's face of that venue
    and a tracker of it; the verdict compares by the ids the venue gave."""
    db = tmp_path / "book.db"
    proc = subprocess.Popen([*DEMO, "--venue", venue, "--db", str(db)], cwd=REPO,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout or ():
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    live: list[re.Match[str]] = []
    try:
        deadline = time.monotonic() + 60
        while len(live) < 3 and time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=1).rstrip("\n"))
            except queue.Empty:
                assert proc.poll() is None, (seen, proc.stderr and proc.stderr.read())
                continue
            if match := LIVE_LINE.match(seen[-1]):
                live.append(match)
        assert len(live) == 3, seen
        assert f"book: {db}" in seen
        query = next(line for line in seen if line.startswith("query it: "))
        # The command shown works as printed, from where the demo was started.
        status = subprocess.run(shlex.split(query.removeprefix("query it: ")), cwd=REPO,
                                capture_output=True, text=True, timeout=30)
        assert status.returncode == 0 and status.stdout.startswith("live"), status
        assert any("duplicate: updates the book had already applied" in s for s in seen)
        assert f"{symbol} " in live[-1][2], live[-1][0]  # the symbols as the venue writes them
        for match in live:
            per_symbol = [int(part.rsplit(" ", 1)[1]) for part in match[2].split(", ")]
            assert sum(per_symbol) == int(match[1]), match[0]  # one number, from one read
        assert int(live[-1][3]) > int(live[0][3])  # the flow goes on, and lines follow it
        # Nothing changed, nothing printed: a line only when the book moved.
        states = [line[9:].rsplit(" | ", 1)[0] for line in seen if line[:1].isdigit()]
        assert all(a != b for a, b in itertools.pairwise(states)), seen
    finally:
        # A supervisor's stop takes the Ctrl-C path: the verdict, and the daemon (in its own
        # session) stopped in order rather than left running.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            proc.kill()
    time.sleep(0.2)  # the reader thread drains the last lines
    while not lines.empty():
        seen.append(lines.get().rstrip("\n"))
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, (seen, err)
    out = "\n".join(seen)
    assert "\x1b" not in out + err
    assert VERDICT.search(out), out
    assert f"tracker exited with 0; book kept at {db}" in out


def ctrl_c_reaches_it() -> None:
    """As in a terminal's foreground: a suite started in the background (`pytest &` from a
    script) passes SIGINT on ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_pty(master: int, until: float) -> bytes:
    """What the terminal received until the deadline, or until the demo closed it."""
    data = b""
    while time.monotonic() < until:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: every process holding the terminal has exited
            break
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory whose path fits the view's panel whole (pytest's own, under a worker,
    is longer than the panel, which then shortens it)."""
    with tempfile.TemporaryDirectory(prefix="demo-") as path:
        yield Path(path)


def test_on_a_terminal_the_live_view_redraws_in_place_and_heads_with_the_book(
        short_dir: Path) -> None:
    rows, cols = 36, 160
    db = short_dir / "b.db"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen([*DEMO, "--db", str(db)], cwd=REPO, stdin=slave, stdout=slave,
                            stderr=slave, env=os.environ | {"TERM": "xterm-256color"},
                            preexec_fn=ctrl_c_reaches_it)
    os.close(slave)
    try:
        out = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and out.count(b"LIVE since") < 6:
            out += read_pty(master, time.monotonic() + 1)
            assert proc.poll() is None, out.decode(errors="replace")
        proc.send_signal(signal.SIGINT)
        out += read_pty(master, time.monotonic() + 30)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(master)
    text = out.decode()
    enter, leave = text.index("\x1b[?1049h"), text.index("\x1b[?1049l")
    before, view, after = text[:enter], text[enter:leave], text[leave:]
    frames = [f for f in view.split("\x1b[H") if ESCAPE.sub("", f).strip()]
    assert sum("LIVE since" in f for f in frames) >= 6
    for frame in frames:
        # The alternate screen, and never a frame taller than it: nothing scrolls, so the
        # scrollback holds only what was there before the demo and its closing lines.
        assert frame.count("\n") <= rows - 1
    plain = ESCAPE.sub("", frames[-1])
    assert re.search(rf"│ book +{re.escape(str(db))} +│", plain), plain
    assert f"status --db {db}" in plain and "last event" in plain
    assert "duplicate" in plain and "counted and ignored" in plain
    assert "\x1b[1;32mLIVE since" in view  # in colour
    assert "\x1b[30;43m" in view  # rows that just changed, marked
    assert f"book: {db}" in before
    assert VERDICT.search(after) and f"book kept at {db}" in after, after


def test_a_changed_row_is_marked_for_a_moment_and_the_first_read_marks_nothing() -> None:
    from tracker.demo import HIGHLIGHT_S, Changes

    changes = Changes()
    changes.see({"a": 1, "b": 1}, now=100.0)
    assert not changes.fresh("a", 100.0) and not changes.fresh("b", 100.0)
    changes.see({"a": 2, "b": 1, "c": 1}, now=101.0)
    assert changes.fresh("a", 101.0) and changes.fresh("c", 101.0)
    assert not changes.fresh("b", 101.0)
    assert changes.fresh("a", 101.0 + HIGHLIGHT_S / 2)
    changes.see({"a": 2, "b": 1, "c": 1}, now=101.0 + HIGHLIGHT_S)
    assert not changes.fresh("a", 101.0 + HIGHLIGHT_S)
    changes.see({"b": 1}, now=102.0)  # a row that left and comes back is new again
    changes.see({"a": 2, "b": 1}, now=102.5)
    assert changes.fresh("a", 102.5)


def test_piped_it_prints_on_each_change_and_leaves_no_directory_behind(short_dir: Path) -> None:
    """Without --db the demo works in a directory of its own under $TMPDIR, removed at the
    end (they piled up before); piped, a line comes each time the book changes, woken by the
    change feed (once a second before, whatever the flow), and never `0 open orders ()`
    before the first seed could count any. (A short $TMPDIR: the feed is a Unix socket
    beside the book, whose path has room for 107 bytes.)"""
    tmp_path = short_dir
    proc = subprocess.Popen(DEMO, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=os.environ | {
                                "TMPDIR": str(tmp_path)}, preexec_fn=ctrl_c_reaches_it)
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout or ():
            lines.put((time.monotonic(), line.rstrip("\n")))

    threading.Thread(target=pump, daemon=True).start()
    seen: list[tuple[float, str]] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                assert proc.poll() is None, seen
                continue
            live = [t for t, line in seen if LIVE_LINE.match(line)]
            if live and seen[-1][0] - live[0] > 4:
                break
        live = [t for t, line in seen if LIVE_LINE.match(line)]
        # 20 flow events a second: far more than one line a second over 4 s.
        assert len(live) >= 8, [line for _, line in seen]
        book = next(line for _, line in seen if line.startswith("book: "))
        work = Path(book.removeprefix("book: ")).parent
        assert work.parent == tmp_path and work.name.startswith("tracker-demo-"), book
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a terminal sends it to its group
        try:
            proc.wait(timeout=30)
        finally:
            proc.kill()
    time.sleep(0.2)
    while not lines.empty():
        seen.append(lines.get())
    out = [line for _, line in seen]
    assert proc.returncode == 0, out
    assert not any("open orders ()" in line for line in out), out
    assert VERDICT.search("\n".join(out)), out
    assert (f"tracker exited with 0; the book went with the demo's directory ({work}): "
            "tracker demo --db PATH keeps one") in out, out
    assert list(tmp_path.iterdir()) == []  # the directory, the book and the logs: gone
