"""`tracker demo`: the simulator with order flow, the daemon against it, and a live view.

Both run as real subprocesses, exactly as a user would run them; the view reads the book
the way any other reader does (read-only), and on Ctrl-C compares it with the exchange's
ground truth.

On a terminal the view is a `rich` live display on the alternate screen, so redraws never
reach the scrollback; piped, it is plain lines, one whenever the book changed, so a log or
`grep` sees no escape codes.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tracker import formats, venues
from tracker.readers import Unavailable, Wakeup
from tracker.sqlite import readers

if TYPE_CHECKING:
    from rich.console import RenderableType

# A changed row stays marked this long: long enough to catch the eye at two redraws a
# second, short enough that the marks still point at what moved.
HIGHLIGHT_S = 1.5
CHANGED_STYLE = "black on yellow"
REDRAW_S = 0.5
PLAIN_POLL_S = 1.0  # the plain view's read without a change feed
# What each outcome counter of `sync_state` means, in the words a newcomer needs.
OUTCOMES = (
    ("applied", "updates (seed rows, pushes, order-detail answers) that changed the book"),
    ("duplicate", "updates the book had already applied (a push sent twice, a seed row it "
                  "held): counted and ignored"),
    ("stale", "updates older than the book's row (a late push): counted and ignored"),
    ("invalid", "payloads that failed validation: journaled with the reason, no order moved"),
    ("unresolved", "orders a seed lacked, asked about one by one, never assumed canceled"),
)


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    terminal = sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
    if terminal and importlib.util.find_spec("rich") is None:
        raise SystemExit("tracker demo: the live view needs rich: "
                         "pip install 'open-order-tracker[demo]'")
    # The simulator and the daemon run in their own sessions, so a stop that reached only
    # the demo would leave them running: SIGTERM (a supervisor, `kill`) and SIGHUP (the
    # terminal closed) take the Ctrl-C path, which stops both.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_like_ctrl_c)
    # One directory a run, removed at its end: nine of them were left in /tmp after one
    # evening. It stays only when something failed, for its logs.
    work = Path(tempfile.mkdtemp(prefix="tracker-demo-"))
    keep = True
    try:
        with _foreground():
            code, keep = _demo(args, terminal, work)
        return code
    finally:
        if keep:
            print(f"the demo's logs are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _foreground() -> Iterator[None]:
    """Ctrl-C goes to the terminal's foreground process group: here the demo's own, which it
    takes for the run and gives back at the end. In the group of `make demo`, make received
    it too and, as GNU make does whatever its recipe does, ended itself by SIGINT, and the
    shell saw 130, a failure, after a clean stop."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_CLOEXEC)
    except OSError:  # no controlling terminal: no Ctrl-C to steer
        yield
        return
    try:
        before = os.tcgetpgrp(tty)
        if before != os.getpgrp():  # started in the background: the terminal is not ours
            yield
            return
        if os.getpgrp() != os.getpid():
            os.setpgid(0, 0)
        # A background group that sets the foreground is sent SIGTTOU: the demo is one, for
        # the moment between its setpgid and tcsetpgrp, and again when it gives it back.
        ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(tty, os.getpgrp())
            yield
        finally:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(tty, before)
            signal.signal(signal.SIGTTOU, ttou)
    finally:
        os.close(tty)


def _demo(args: argparse.Namespace, terminal: bool, work: Path) -> tuple[int, bool]:
    """The run: its exit code, and whether its directory must be kept (something failed)."""
    from simulator.state import DEMO_ACCOUNT
    db = Path(args.db).absolute() if args.db else work / "orders.db"
    book = DemoBook(db, _tracker_command())
    ready = work / "sim.json"
    sim_cmd = [sys.executable, "-m", "tracker.cli", "sim", "--port", "0", "--ready-file",
               str(ready), "--open-orders", str(args.open_orders), "--rate", str(args.rate)]
    if args.faults:
        sim_cmd += ["--faults", args.faults]
    sim_log = (work / "sim.log").open("w")
    # Own sessions: Ctrl-C reaches the demo alone, which then stops both in order.
    sim = subprocess.Popen(sim_cmd, stdout=sim_log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    daemon: subprocess.Popen[bytes] | None = None
    try:
        urls = _wait_ready(ready, sim)
        env = os.environ | sim_credentials(DEMO_ACCOUNT, args.venue) | {
            "TRACKER_VENUE": args.venue, "TRACKER_DB": str(db),
            "TRACKER_SYMBOLS": ",".join(urls[f"{args.venue}_symbols"]),
            "TRACKER_REST_URL": urls["rest_url"], "TRACKER_WS_URL": urls[f"{args.venue}_ws_url"],
            "TRACKER_LOG_FORMAT": "json"}
        daemon_log = (work / "tracker.log").open("w")
        daemon = subprocess.Popen([sys.executable, "-m", "tracker.cli", "run"], env=env,
                                  stdout=daemon_log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        print(f"simulator: {urls['rest_url']}   logs: {work}", flush=True)
        print(f"book: {db}\n{book.query}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            if terminal:
                _live_view(book, daemon)
            else:
                _plain_view(book, daemon)
        print(f"\n{_compare(db, urls['control_url'], args.venue)}", flush=True)
    except KeyboardInterrupt:  # before the view began, or again during the check
        print("\nstopped", flush=True)
    finally:
        for proc in (daemon, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (daemon, sim):
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    if daemon is None:
        return 0, False
    failed = daemon.returncode != 0
    if failed or not db.is_relative_to(work):
        print(f"tracker exited with {daemon.returncode}; book kept at {db}\n{book.query}")
    else:
        print(f"tracker exited with 0; the book went with the demo's directory ({work}): "
              "tracker demo --db PATH keeps one")
    return 0, failed


def sim_credentials(account: Any, venue: str) -> dict[str, str]:
    """A simulator account's credentials as `venue`'s settings name them (TRACKER_*)."""
    held = {"api_key": account.api_key, "api_secret": account.secret, "api_memo": account.memo,
            "passphrase": account.passphrase}
    return {f"TRACKER_{name.upper()}": held[name] for name in venues.get(venue).credential_names}


def _tracker_command() -> str:
    """How to reach this install's `tracker` from here: `make demo` puts nothing on PATH,
    so a bare `tracker` would not be found (or would be another install)."""
    script = Path(sys.executable).parent / "tracker"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m tracker.cli"
    if shutil.which("tracker") == str(script):
        return "tracker"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


def _wait_ready(ready: Path, sim: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if ready.exists():
            return json.loads(ready.read_text())
        if sim.poll() is not None:
            raise SystemExit(f"the simulator exited with {sim.returncode}")
        time.sleep(0.05)
    raise SystemExit("the simulator did not start within 20 s")


@dataclass(frozen=True)
class DemoBook:
    path: Path
    tracker: str

    @property
    def commands(self) -> tuple[str, str]:
        db = shlex.quote(str(self.path))
        return f"{self.tracker} status --db {db}", f"{self.tracker} orders --db {db}"

    @property
    def query(self) -> str:
        status, orders = self.commands
        return f"query it: {status}\n          {orders}"


@dataclass(frozen=True)
class Snapshot:
    """One look at the book. Every order count shown comes from `orders`, a single read,
    so the total and the per-symbol counts always add up."""

    state: dict[str, Any]
    orders: list[dict[str, Any]]

    @classmethod
    def read(cls, db: Path) -> Snapshot:
        state = readers.status(db)
        orders = readers.open_orders(db)
        orders.sort(key=lambda r: r["updated_at"] or r["created_at"] or 0, reverse=True)
        return cls(state, orders)

    def state_text(self) -> str:
        s = self.state
        if s["live"]:
            since = s["live_since"]
            return f"LIVE since {formats.clock(since, date=False)}" if since else "LIVE"
        return f"NOT LIVE: {formats.why_not_live(s)}"

    def last_event(self) -> str:
        at = self.state["last_event_at"]
        if not at:
            return "no event yet"
        return f"last event {formats.ago(int(time.time() * 1000) - at, fine=True)} ago"

    def by_symbol(self) -> dict[str, tuple[int, int, int, int]]:
        """Per symbol: open, buy, sell, partly filled."""
        rows: dict[str, Counter[str]] = {}
        for r in self.orders:
            c = rows.setdefault(r["symbol"], Counter())
            c["open"] += 1
            c[r["side"]] += 1
            c["partly"] += Decimal(r["filled_size"]) > 0
        return {s: (c["open"], c["buy"], c["sell"], c["partly"]) for s, c in sorted(rows.items())}

    def line(self) -> str:
        """The plain view's line, without the clock and the event age, so that equal lines
        mean nothing changed."""
        if not self.state["last_seed_at"]:  # no count yet: "0 open orders" would be a guess
            return f"{self.state_text()} | the first seed is under way"
        symbols = ", ".join(f"{s} {v[0]}" for s, v in self.by_symbol().items())
        orders = f"{len(self.orders)} open orders" + (f" ({symbols})" if symbols else "")
        counts = ", ".join(f"{name} {self.state[name]}" for name, _ in OUTCOMES)
        return f"{self.state_text()} | {orders} | {counts}"


class Changes:
    """When each row last differed from the read before, so a redraw marks it a moment."""

    def __init__(self) -> None:
        self.last: dict[str, object] | None = None
        self.since: dict[str, float] = {}

    def see(self, rows: dict[str, object], now: float) -> None:
        if self.last is not None:  # the first read shows the book as it is, nothing marked
            for key, value in rows.items():
                if self.last.get(key) != value:
                    self.since[key] = now
        self.since = {k: t for k, t in self.since.items() if k in rows}
        self.last = rows

    def fresh(self, key: str, now: float) -> bool:
        return now - self.since.get(key, -HIGHLIGHT_S) < HIGHLIGHT_S


def _plain_view(book: DemoBook, daemon: subprocess.Popen[bytes]) -> None:
    """One line each time the book changed, as the daemon's change feed announces each
    commit (read once a second without it)."""
    print("counters:\n" + "\n".join(f"  {name}: {meaning}" for name, meaning in OUTCOMES),
          flush=True)
    shown = None
    wakeup = Wakeup(book.path)
    try:
        while daemon.poll() is None:
            try:
                snap = Snapshot.read(book.path)
                line, age = snap.line(), snap.last_event()
            except Unavailable:
                line, age = f"waiting for the book at {book.path}", ""
            if line != shown:
                stamp = datetime.now(UTC).strftime("%H:%M:%S")
                print(f"{stamp} {line}" + (f" | {age}" if age else ""), flush=True)
                shown = line
            wakeup.wait(PLAIN_POLL_S)
    finally:
        wakeup.close()
    raise SystemExit(f"the tracker exited with {daemon.returncode}")


def _live_view(book: DemoBook, daemon: subprocess.Popen[bytes]) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    symbols, orders = Changes(), Changes()
    # The alternate screen: each redraw replaces the last one in place, the scrollback
    # keeps what was there before the demo, and leaving restores it.
    with Live(console=console, screen=True, auto_refresh=False) as live:
        while daemon.poll() is None:
            now = time.monotonic()
            try:
                snap = Snapshot.read(book.path)
            except Unavailable:
                snap = None
            else:
                symbols.see(dict(snap.by_symbol()), now)
                orders.see({r["order_id"]: (r["filled_size"], r["state"], r["updated_at"])
                            for r in snap.orders}, now)
            live.update(_screen(book, snap, symbols, orders, now, console.size.height),
                        refresh=True)
            time.sleep(REDRAW_S)
    raise SystemExit(f"the tracker exited with {daemon.returncode}")


def _screen(book: DemoBook, snap: Snapshot | None, symbols: Changes, orders: Changes, now: float,
            height: int) -> RenderableType:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold", no_wrap=True)
    head.add_column()
    if snap is None:
        head.add_row("state", Text("waiting for the book (the tracker is starting)",
                                   style="yellow"))
    else:
        s = snap.state
        head.add_row("state", Text.assemble(
            (snap.state_text(), "bold green" if s["live"] else "bold red"),
            f"   epoch {s['epoch']}, reconnects {s['reconnects']}"))
        head.add_row("open orders", f"{len(snap.orders)}   {snap.last_event()}")
    head.add_row("book", str(book.path))
    head.add_row("query it", book.commands[0])
    head.add_row("", book.commands[1])
    head.add_row("stop", "Ctrl-C: stops the demo and checks the book against the exchange")
    parts: list[RenderableType] = [Panel(head, title="tracker demo", title_align="left")]
    if snap is None:
        return Group(*parts)

    by_symbol = Table(title="per symbol", title_justify="left", expand=False)
    for name in ("symbol", "open", "buy", "sell", "partly filled"):
        by_symbol.add_column(name, justify="left" if name == "symbol" else "right")
    for symbol, counts in snap.by_symbol().items():
        by_symbol.add_row(symbol, *map(str, counts),
                          style=CHANGED_STYLE if symbols.fresh(symbol, now) else None)

    counters = Table.grid(padding=(0, 2))
    counters.add_column(style="bold", no_wrap=True, min_width=len("unresolved"))
    counters.add_column(justify="right")
    counters.add_column(style="dim", no_wrap=True, overflow="ellipsis")
    for name, meaning in OUTCOMES:
        counters.add_row(name, str(snap.state[name]), meaning)

    # What is left of the screen lists the orders, most recently changed first.
    room = max(height - 18 - len(snap.by_symbol()) - len(OUTCOMES), 1)
    recent = Table(title=f"open orders, most recently changed first ({len(snap.orders)})",
                   title_justify="left")
    columns = ("order_id", "symbol", "side", "price", "size", "filled_size", "state")
    for name in columns:
        recent.add_column(name, justify="right" if name in ("price", "size", "filled_size")
                          else "left", no_wrap=True)
    for r in snap.orders[:room]:
        cells: list[RenderableType] = [str(r[c]) for c in columns]
        cells[2] = Text(r["side"], style="green" if r["side"] == "buy" else "red")
        recent.add_row(*cells, style=CHANGED_STYLE if orders.fresh(r["order_id"], now) else None)
    parts += [by_symbol, counters, recent]
    return Group(*parts)


def _compare(db: Path, control: str, venue: str) -> str:
    """Pause the flow, let the last pushes land, then hold the book against the truth (by
    the ids the venue gave its orders: the book's may add what makes them unique)."""
    native_id = venues.get(venue).native_id
    try:
        httpx.patch(f"{control}/flow", json={"rate": 0}, timeout=5)
        time.sleep(1.0)
        truth = httpx.get(f"{control}/truth", params={"open": 1}, timeout=5).json()["orders"]
        book = {native_id(r["order_id"]): r for r in readers.open_orders(db)}
    except (httpx.HTTPError, Unavailable) as exc:
        return f"could not compare with the exchange: {exc}"
    want = {o["orderId"]: o for o in truth}
    wrong = [oid for oid in want.keys() & book.keys()
             if Decimal(want[oid]["filledSize"]) != Decimal(book[oid]["filled_size"])]
    missing, extra = want.keys() - book.keys(), book.keys() - want.keys()
    if not (missing or extra or wrong):
        return f"the book matches the exchange: {len(book)} open orders, all exact"
    return (f"the book differs from the exchange: {len(missing)} missing, {len(extra)} extra, "
            f"{len(wrong)} with another filled size")
