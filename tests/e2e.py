"""Harness for the end-to-end tests: the simulator and the daemon as real subprocesses.

Nothing here imports the daemon: it is driven through its command line and environment,
observed through the SQLite file (read-only, as any other reader would) and compared with
the simulator's ground truth (`GET /control/truth`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from bitmart_sim.state import DEMO_ACCOUNT
from tracker.protocol import OPEN_STATES

TRACKER = [sys.executable, "-m", "tracker.cli"]
SYMBOLS = ("BTC_USDT", "ETH_USDT", "BMX_ETH")  # the simulator's defaults
CREDENTIALS = {"TRACKER_API_KEY": DEMO_ACCOUNT.api_key,
               "TRACKER_API_SECRET": DEMO_ACCOUNT.secret,
               "TRACKER_API_MEMO": DEMO_ACCOUNT.memo}
# Short timings, so that reconnects and resolutions happen within a test's patience.
FAST = {"TRACKER_GRACE_PERIOD": "0.3", "TRACKER_BACKOFF_MAX": "1",
        "TRACKER_PING_INTERVAL": "2", "TRACKER_SILENCE_TIMEOUT": "5",
        "TRACKER_RECONCILE_INTERVAL": "0", "TRACKER_PAGE_SIZE": "100",
        "TRACKER_LOG_FORMAT": "json"}

T = TypeVar("T")


def clean_env() -> dict[str, str]:
    """The test runner's environment without anything that would configure a tracker."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("TRACKER_", "WATCHDOG_"))
            and k not in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "NOTIFY_SOCKET")}


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no {path.name})"
    return "\n".join(text.splitlines()[-lines:])


def eventually(check: Callable[[], T], timeout: float, what: str, *,
               interval: float = 0.1, context: Callable[[], str] | None = None) -> T:
    """Poll `check` until it returns without an AssertionError; its value is returned.

    On the deadline the last AssertionError is raised again, with what was awaited and
    (from `context`) whatever helps to see why, e.g. the tail of the daemon's log.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError as exc:
            if time.monotonic() >= deadline:
                extra = f"\n--- context ---\n{context()}" if context else ""
                raise AssertionError(f"not within {timeout:g} s: {what}: {exc}{extra}") from None
        time.sleep(interval)


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


# -- the simulator ---------------------------------------------------------------------


class Sim:
    """`tracker sim` on a free port, and a client for its control API."""

    def __init__(self, workdir: Path, *args: str, name: str = "sim",
                 ready_timeout: float = 20.0) -> None:
        self.ready = workdir / f"{name}-ready.json"
        self.log = workdir / f"{name}.err"
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [*TRACKER, "sim", "--port", "0", "--ready-file", str(self.ready), *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                env=clean_env())
        try:
            self.urls = eventually(self._ready, ready_timeout,
                                   "the simulator writes its ready file",
                                   interval=0.05, context=lambda: tail(self.log))
        except BaseException:
            stop_process(self.proc, 5)
            raise
        self.rest_url: str = self.urls["rest_url"]
        self.ws_url: str = self.urls["ws_url"]
        self.http = httpx.Client(base_url=self.urls["control_url"], timeout=10)

    def _ready(self) -> dict[str, Any]:
        assert self.proc.poll() is None, f"the simulator exited with {self.proc.returncode}"
        assert self.ready.exists(), "no ready file yet"
        return json.loads(self.ready.read_text())

    def close(self) -> None:
        stop_process(self.proc, 5)
        if hasattr(self, "http"):
            self.http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        return response.json()

    def truth(self) -> dict[str, dict[str, Any]]:
        return {o["orderId"]: o for o in self._call("GET", "/truth")["orders"]}

    def open_truth(self) -> list[dict[str, Any]]:
        return self._call("GET", "/truth?open=1")["orders"]

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")

    def counter(self, name: str) -> int:
        return int(self.stats()["counters"].get(name, 0))

    def faults(self, **changes: Any) -> dict[str, Any]:
        return self._call("PATCH", "/faults", changes)["faults"]

    def flow(self, rate: float) -> None:
        self._call("PATCH", "/flow", {"rate": rate})

    def place(self, **order: Any) -> dict[str, Any]:
        return self._call("POST", "/orders", order)

    def fill(self, order_id: str, size: str | None = None) -> dict[str, Any]:
        return self._call("POST", f"/orders/{order_id}/fill",
                          {} if size is None else {"size": size})

    def cancel(self, order_id: str) -> dict[str, Any]:
        return self._call("POST", f"/orders/{order_id}/cancel", {})

    def drop(self, mode: str = "abort") -> int:
        return int(self._call("POST", "/ws/drop", {"mode": mode})["dropped"])

    def send(self, frame: str | bytes) -> int:
        """A raw frame to every subscribed connection (bytes go as a binary frame)."""
        body = {"text": frame} if isinstance(frame, str) else {
            "base64": base64.b64encode(frame).decode()}
        return int(self._call("POST", "/ws/send", body)["sent"])

    def expire_tokens(self) -> int:
        return int(self._call("POST", "/tokens/expire", {})["expired"])


# -- the book, read as any other process reads it --------------------------------------


@dataclass
class BookView:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    open_ids: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)

    def open_rows(self) -> list[dict[str, Any]]:
        return [self.orders[oid] for oid in self.open_ids]


def ro_connect(db: Path, timeout: float = 5.0) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=timeout,
                           isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def read_book(db: Path) -> BookView:
    """One consistent snapshot (one read transaction) of orders, open_orders, sync_state."""
    assert db.exists(), f"no book at {db} yet"
    conn = ro_connect(db)
    try:
        conn.execute("BEGIN")
        orders = {r["order_id"]: dict(r) for r in conn.execute("SELECT * FROM orders")}
        open_ids = {r[0] for r in conn.execute("SELECT order_id FROM open_orders")}
        state = dict(conn.execute("SELECT * FROM sync_state WHERE id = 1").fetchone())
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:  # created, not yet migrated: as if absent
        raise AssertionError(f"the book at {db} is not readable yet: {exc}") from None
    finally:
        conn.close()
    return BookView(orders, open_ids, state)


def journal(db: Path, order_id: str | None = None) -> list[dict[str, Any]]:
    conn = ro_connect(db)
    try:
        sql, args = "SELECT * FROM order_events", ()
        if order_id is not None:
            sql, args = sql + " WHERE order_id = ?", (order_id,)
        return [dict(r) for r in conn.execute(sql + " ORDER BY seq", args)]
    finally:
        conn.close()


def divergences(book: BookView, truth: dict[str, dict[str, Any]],
                symbols: tuple[str, ...] = SYMBOLS) -> list[tuple[str, str]]:
    """Where the book and the ground truth disagree, as (kind, description); empty when
    converged. Kinds: missing, extra, unknown, wrong_state, wrong_filled, unresolved.

    The open sets must be equal (for the configured symbols), and every order the book
    holds must show the truth's state and filled size (as Decimals: the book keeps the
    exchange's text). An order still flagged unresolved is not converged either.
    """
    found: list[tuple[str, str]] = []
    truth_open = {oid for oid, t in truth.items()
                  if t["state"] in OPEN_STATES and t["symbol"] in symbols}
    for oid in sorted(book.open_ids - truth_open):
        found.append(("extra", f"{oid} open in the book, "
                               f"{truth.get(oid, {}).get('state')} in truth"))
    for oid in sorted(truth_open - book.open_ids):
        found.append(("missing", f"{oid} open in truth, "
                                 f"{book.orders.get(oid, {}).get('state')} in the book"))
    for oid, row in sorted(book.orders.items()):
        t = truth.get(oid)
        if t is None:
            found.append(("unknown", f"{oid} in the book, unknown to the exchange"))
            continue
        text = f"{oid}: book {row['state']} {row['filled_size']}, truth {t['state']} " \
               f"{t['filledSize']}"
        if row["state"] != t["state"]:
            found.append(("wrong_state", text))
        elif Decimal(row["filled_size"]) != Decimal(t["filledSize"]):
            found.append(("wrong_filled", text))
        if row["unresolved"]:
            found.append(("unresolved", f"{oid} still unresolved"))
    return found


def differences(book: BookView, truth: dict[str, dict[str, Any]],
                symbols: tuple[str, ...] = SYMBOLS) -> list[str]:
    return [text for _, text in divergences(book, truth, symbols)]


# -- the daemon ------------------------------------------------------------------------


class Daemon:
    """`tracker run` against a simulator; restartable on the same book."""

    def __init__(self, workdir: Path, sim: Sim, *, api: str = "v2", db: Path | None = None,
                 env: dict[str, str] | None = None, name: str = "daemon") -> None:
        self.db = db or workdir / "book.db"
        self.log = workdir / f"{name}.err"
        self.env = clean_env() | CREDENTIALS | FAST | {
            "TRACKER_API": api, "TRACKER_SYMBOLS": ",".join(SYMBOLS),
            "TRACKER_DB": str(self.db), "TRACKER_REST_URL": sim.rest_url,
            "TRACKER_WS_URL": sim.ws_url} | (env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Daemon:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with self.log.open("ab") as err:
            err.write(f"=== start {self.starts} ===\n".encode())
            err.flush()
            self.proc = subprocess.Popen([*TRACKER, "run"], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err, env=self.env)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        return tail(self.log, lines)

    def book(self) -> BookView:
        assert self.alive(), f"the daemon exited with {self.proc and self.proc.returncode}"
        return read_book(self.db)

    def wait_live(self, timeout: float = 30.0, *, epoch_above: int = 0) -> BookView:
        def live() -> BookView:
            book = self.book()
            state = book.state
            assert state["live"] == 1 and state["epoch"] > epoch_above, (
                f"live={state['live']} epoch={state['epoch']} status={state['status']!r}")
            return book

        return eventually(live, timeout, f"the book is live (epoch > {epoch_above})",
                          context=self.tail)

    def wait_converged(self, sim: Sim, timeout: float = 30.0) -> BookView:
        def converged() -> BookView:
            truth = sim.truth()
            book = self.book()
            problems = differences(book, truth)
            assert not problems, f"{len(problems)} differences: {'; '.join(problems[:8])}"
            return book

        return eventually(converged, timeout, "the book equals the truth", interval=0.2,
                          context=self.tail)

    def status(self) -> tuple[int, dict[str, Any]]:
        done = subprocess.run([*TRACKER, "status", "--json", "--db", str(self.db)],
                              capture_output=True, text=True, timeout=30, env=clean_env())
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def fill_disk(directory: Path) -> Path:
    """Take every free byte of the file system `directory` is on (mount a small tmpfs
    there first); delete the file returned to give the space back."""
    filler = directory / "filler"
    for block in (1 << 20, 4096, 1):
        with contextlib.suppress(OSError), filler.open("ab", buffering=0) as f:
            while True:
                f.write(b"\0" * block)
    return filler


def run_once(env: dict[str, str], *args: str, timeout: float = 30.0
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRACKER, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


READER = """
import json, sqlite3, sys, time
from urllib.parse import quote
db, seconds = sys.argv[1], float(sys.argv[2])
conn = sqlite3.connect(f"file:{quote(db)}?mode=ro", uri=True, timeout=5, isolation_level=None)
report = {"reads": 0, "errors": [], "empty": 0, "inconsistent": 0, "not_live": 0,
          "seqs": []}
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        conn.execute("BEGIN")
        rows = conn.execute("SELECT * FROM open_orders").fetchall()
        count = conn.execute("SELECT COUNT(*) FROM orders "
                             "WHERE state IN ('new', 'partially_filled')").fetchone()[0]
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM order_events").fetchone()[0]
        live = conn.execute("SELECT live FROM sync_state").fetchone()[0]
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        report["errors"].append(str(exc))
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        continue
    report["reads"] += 1
    ids = [r[0] for r in rows]
    report["empty"] += not rows
    report["inconsistent"] += len(ids) != count or len(set(ids)) != count
    report["not_live"] += live != 1
    if not report["seqs"] or report["seqs"][-1] != seq:
        report["seqs"].append(seq)
    time.sleep(0.002)
report["seqs"] = [report["seqs"][0], report["seqs"][-1], len(report["seqs"])]
print(json.dumps(report))
"""


def start_reader(db: Path, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", READER, str(db), str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env())


class Lab:
    """What one test started; `close` stops it all (daemons first) and shows the logs,
    which pytest prints only when the test failed."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.sims: list[Sim] = []
        self.daemons: list[Daemon] = []

    def sim(self, *args: str) -> Sim:
        sim = Sim(self.workdir, *args, name=f"sim{len(self.sims) + 1}")
        self.sims.append(sim)
        return sim

    def daemon(self, sim: Sim, **kwargs: Any) -> Daemon:
        kwargs.setdefault("name", f"daemon{len(self.daemons) + 1}")
        daemon = Daemon(self.workdir, sim, **kwargs)
        self.daemons.append(daemon)
        return daemon

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.close()
        for sim in self.sims:
            sim.close()
        for daemon in self.daemons:
            print(f"--- {daemon.log.name} (last lines) ---\n{daemon.tail(60)}")
        for sim in self.sims:
            print(f"--- {sim.log.name} (last lines) ---\n{tail(sim.log, 20)}")
