"""Chaos soak: seeded scenarios of order flow, faults and SIGKILLs, each ending with the
book compared against the exchange's ground truth.

    python -m bench.chaos --scenarios 200 --seed 1 --jobs 2

Every scenario starts a simulator and the daemon as real subprocesses, then for a few
seconds draws actions from everything the simulator can inject (dropped, duplicated,
delayed and reordered pushes; abrupt and clean disconnects; silence; REST 5xx, 429,
slowness and lag; REST answers that trickle in or never end; token expiry, early and on
demand; orders moving between pages; a server clock minutes off) plus SIGKILL and restart
of the daemon, and a book that cannot be written for a while: another process holding its
write lock, or (as root, on a small tmpfs) a full disk. Then the faults and the flow stop,
and the daemon must bring its book to the truth on its own (its periodic reconcile is set
short, as an operator would for a lossy link). A scenario replays from its seed, up to the
timing of the machine.

Exit status 1 on any divergent order, lost journal row, unexpected daemon exit or secret
found in the daemon's output or database. A start refused with a sysexits code (74, 75, 69)
while the book cannot be written is expected, and counted apart: a supervisor restarts it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    CREDENTIALS,
    BookView,
    Daemon,
    Sim,
    divergences,
    fill_disk,
    read_book,
    ro_connect,
)

CALM = {"push_drop": 0.0, "push_duplicate": 0.0, "push_delay_ms": 0, "push_reorder": 0.0,
        "ws_silent": False, "rest_5xx": 0.0, "rest_429": 0.0, "rest_slow_ms": 0,
        "rest_trickle_ms": 0, "rest_endless": False, "rest_lag_ms": 0, "token_ttl_s": 900.0,
        "page_shift": 0, "clock_skew_ms": 0}
# Short enough that silent losses (a dropped push on a live connection) are repaired by
# the daemon's own reconcile within the settle time, and that a trickling answer meets
# the deadline of its call within a scenario.
# A small queue, so that a write stall of a few seconds at the soak's flow rates overflows
# it and the shed-and-splice-again path runs too.
SOAK_ENV = {"TRACKER_RECONCILE_INTERVAL": "3", "TRACKER_REST_TIMEOUT": "3",
            "TRACKER_QUEUE_MAX": "300", "TRACKER_STOP_TIMEOUT": "3"}
# Exits a supervisor restarts, expected while the book cannot be written (sysexits).
UNWRITABLE_EXITS = frozenset({69, 74, 75})
DISK_BYTES = 64 << 20
SECRETS = tuple(CREDENTIALS.values())
JournalRow = tuple[int, str, str, str]


@dataclass
class Result:
    index: int
    seed: int
    api: str = ""
    events: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    divergent: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    journal_lost: int = 0
    converge_s: float | None = None
    unexpected_exits: list[int] = field(default_factory=list)
    unwritable_exits: int = 0  # refused starts while the book could not be written
    secret_leaks: int = 0
    error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.divergent or self.journal_lost or self.unexpected_exits
                    or self.secret_leaks or self.error)

    def line(self) -> str:
        faults = ",".join(f"{k}:{v}" for k, v in sorted(self.faults.items())) or "-"
        divergent = ",".join(f"{k}:{v}" for k, v in sorted(self.divergent.items())) or "0"
        converge = "-" if self.converge_s is None else f"{self.converge_s:.1f}s"
        text = (f"#{self.index:<3} seed={self.seed} {self.api} events={self.events} "
                f"restarts={self.restarts} divergent={divergent} journal_lost="
                f"{self.journal_lost} converge={converge} exits={len(self.unexpected_exits)} "
                f"unwritable_exits={self.unwritable_exits} "
                f"leaks={self.secret_leaks} faults={faults}")
        if self.error:
            text += f"\n     error: {self.error}"
        for example in self.examples[:5]:
            text += f"\n     {example}"
        return text


class Scenario:
    """One seeded run: its simulator, its daemon, and what happened to them.

    Longer than 200 lines because each fault it injects is a short method over the same
    simulator, daemon and record of what happened; a scenario reads top to bottom as the
    list of what can go wrong."""

    def __init__(self, index: int, seed: int, workdir: Path, length: float) -> None:
        self.rng = random.Random(seed)
        self.result = Result(index, seed, api=self.rng.choice(("v2", "v4")))
        self.workdir = workdir
        self.length = length
        self.silent_until = 0.0
        self.hostile_until = 0.0  # when trickling or endless REST answers stop
        self.committed: list[JournalRow] = []  # journal rows seen before each SIGKILL
        self.disk: Path | None = None  # a small tmpfs holding the book, when root
        self.locker: sqlite3.Connection | None = None  # holds the book's write lock
        self.filler: Path | None = None  # takes the disk's last free byte
        self.unwritable_until = 0.0

    def run(self) -> Result:
        started = time.monotonic()
        rng, result = self.rng, self.result
        sim = Sim(self.workdir, "--open-orders", str(rng.randint(10, 60)),
                  "--rate", str(rng.randint(20, 100)), "--seed", str(result.seed))
        self.disk = small_disk(self.workdir / "disk")
        daemon = Daemon(self.workdir, sim, api=result.api, env=SOAK_ENV,
                        db=(self.disk or self.workdir) / "book.db")
        try:
            daemon.start()
            daemon.wait_live(60)
            self._storm(sim, daemon)
            sim.faults(**CALM)
            self._writable()
            sim.flow(0)
            calm_since = time.monotonic()
            self._keep_alive(daemon)
            book = self._converge(sim, daemon, timeout=90)
            result.converge_s = time.monotonic() - calm_since
            self._check_journal(daemon, book)
            result.events = int(sim.stats()["counters"].get("pushes_sent", 0))
            result.faults.update({k: v for k, v in sim.stats()["injected"].items() if v})
        except Exception as exc:  # a broken scenario is reported, not fatal to the soak
            result.error = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            self._writable()
            daemon.close()
            sim.close()
            result.secret_leaks = leaks(daemon)
            if self.disk is not None:
                for path in self.disk.iterdir():  # kept beside the logs, off the tmpfs
                    shutil.move(path, self.workdir / path.name)
                subprocess.run(["umount", "-l", str(self.disk)], check=False)
            result.seconds = time.monotonic() - started
        return result

    def _storm(self, sim: Sim, daemon: Daemon) -> None:
        actions: list[tuple[int, Callable[[Sim, Daemon], None]]] = [
            (3, self._push_faults), (2, self._rest_faults), (1, self._hostile_answers),
            (1, self._silence), (2, self._disconnect), (1, self._tokens), (1, self._page_shift),
            (1, self._clock_skew), (2, self._sigkill), (2, self._calm),
            (1, self._unwritable)]
        weights = [w for w, _ in actions]
        end = time.monotonic() + self.length
        while time.monotonic() < end:
            action = self.rng.choices([a for _, a in actions], weights)[0]
            action(sim, daemon)
            time.sleep(self.rng.uniform(0.1, 0.7))
            if self.silent_until and time.monotonic() >= self.silent_until:
                sim.faults(ws_silent=False)
                self.silent_until = 0.0
            if self.hostile_until and time.monotonic() >= self.hostile_until:
                sim.faults(rest_trickle_ms=0, rest_endless=False)
                self.hostile_until = 0.0
            if self.unwritable_until and time.monotonic() >= self.unwritable_until:
                self._writable()
            self._keep_alive(daemon)

    def _keep_alive(self, daemon: Daemon) -> None:
        """A daemon that died on its own is a failure, unless it refused to start on a book
        it could not write; it is restarted so the soak goes on."""
        if daemon.proc is not None and daemon.proc.poll() is not None:
            code = daemon.proc.returncode
            if code in UNWRITABLE_EXITS and (self.locker or self.filler
                                             or time.monotonic() < self.unwritable_until + 2):
                self.result.unwritable_exits += 1
            else:
                self.result.unexpected_exits.append(code)
            daemon.start()

    def _unwritable(self, sim: Sim, daemon: Daemon) -> None:
        """The book cannot be written for a while, sometimes past the point where it stops
        being live (5 s) and its queue overflows: a full disk (when there is a tmpfs to
        fill) or another process holding the write lock."""
        if self.locker or self.filler or not daemon.db.exists():
            return
        if self.disk is not None and self.rng.random() < 0.5:
            self.filler = fill_disk(self.disk)
            self.result.faults["disk_full"] += 1
        else:
            conn = sqlite3.connect(daemon.db, timeout=3, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # the daemon holds it this instant: next time
                conn.close()
                return
            self.locker = conn
            self.result.faults["write_lock"] += 1
        self.unwritable_until = time.monotonic() + self.rng.uniform(0.5, 8.0)

    def _writable(self) -> None:
        if self.locker is not None:
            self.locker.execute("ROLLBACK")
            self.locker.close()
            self.locker = None
        if self.filler is not None:
            self.filler.unlink()
            self.filler = None

    def _push_faults(self, sim: Sim, daemon: Daemon) -> None:
        rng = self.rng
        sim.faults(push_drop=rng.choice((0.0, 0.05, 0.3)),
                   push_duplicate=rng.choice((0.0, 0.1, 0.5)),
                   push_delay_ms=rng.choice((0, 20, 200)),
                   push_reorder=rng.choice((0.0, 0.1, 0.5)))

    def _rest_faults(self, sim: Sim, daemon: Daemon) -> None:
        rng = self.rng
        sim.faults(rest_5xx=rng.choice((0.0, 0.1, 0.3)), rest_429=rng.choice((0.0, 0.1, 0.3)),
                   rest_slow_ms=rng.choice((0, 50, 300)),
                   rest_lag_ms=rng.choice((0, 300, 1500)))

    def _hostile_answers(self, sim: Sim, daemon: Daemon) -> None:
        """A while of REST answers that only a deadline (trickle) or a size cap (endless)
        can end; the simulator counts each answer it spoils."""
        if self.rng.random() < 0.5:
            sim.faults(rest_trickle_ms=self.rng.choice((5, 50, 2000)))
        else:
            sim.faults(rest_endless=True)
        self.hostile_until = time.monotonic() + self.rng.uniform(0.5, 5.0)
        sim.drop("abort")  # so that a seed meets them, not only an occasional detail query

    def _silence(self, sim: Sim, daemon: Daemon) -> None:
        sim.faults(ws_silent=True)
        self.silent_until = time.monotonic() + self.rng.uniform(0.5, 6.0)
        self.result.faults["ws_silence"] += 1

    def _disconnect(self, sim: Sim, daemon: Daemon) -> None:
        mode = self.rng.choice(("abort", "close"))
        sim.drop(mode)

    def _tokens(self, sim: Sim, daemon: Daemon) -> None:
        if self.rng.random() < 0.5:
            sim.expire_tokens()
        else:
            sim.faults(token_ttl_s=self.rng.uniform(0.5, 3.0))
            self.result.faults["token_ttl_short"] += 1

    def _page_shift(self, sim: Sim, daemon: Daemon) -> None:
        sim.faults(page_shift=self.rng.randint(1, 3))
        sim.drop("abort")  # so that a seed runs while orders move between its pages

    def _clock_skew(self, sim: Sim, daemon: Daemon) -> None:
        sim.faults(clock_skew_ms=self.rng.choice((-120_000, -5_000, 30_000, 90_000)))
        self.result.faults["clock_skew"] += 1

    def _sigkill(self, sim: Sim, daemon: Daemon) -> None:
        self._keep_alive(daemon)
        self.committed = journal_rows(daemon.db) if daemon.db.exists() else []
        daemon.signal(signal.SIGKILL)
        daemon.wait()
        self.result.faults["sigkill"] += 1
        time.sleep(self.rng.uniform(0.0, 1.0))
        daemon.start()
        self.result.restarts += 1

    def _calm(self, sim: Sim, daemon: Daemon) -> None:
        sim.faults(**CALM)
        self.silent_until = 0.0
        self.hostile_until = 0.0

    def _converge(self, sim: Sim, daemon: Daemon, timeout: float) -> BookView:
        deadline = time.monotonic() + timeout
        while True:
            self._keep_alive(daemon)
            try:
                book = read_book(daemon.db)
            except AssertionError:  # a restart is creating the file right now
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.25)
                continue
            found = divergences(book, sim.truth())
            if not found:
                return book
            if time.monotonic() >= deadline:
                self.result.divergent.update(kind for kind, _ in found)
                self.result.examples.extend(text for _, text in found)
                return book
            time.sleep(0.25)

    def _check_journal(self, daemon: Daemon, book: BookView) -> None:
        """Every row committed before a SIGKILL is still there, unchanged, and seq has no
        gap: the journal is append-only across crashes."""
        rows = journal_rows(daemon.db)
        seqs = [r[0] for r in rows]
        gaps = len(set(range(1, seqs[-1] + 1)) - set(seqs)) if seqs else 0
        kept = set(rows)
        self.result.journal_lost = gaps + sum(1 for r in self.committed if r not in kept)


def small_disk(path: Path) -> Path | None:
    """A tmpfs for the book, so a full disk can be played without filling the machine's;
    None where mounting is not allowed (not root)."""
    if os.geteuid() != 0:
        return None
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs",
                           str(path)], capture_output=True)
    return path if done.returncode == 0 else None


def journal_rows(db: Path) -> list[JournalRow]:
    conn = ro_connect(db)
    try:
        return [(r[0], r[1], r[2], r[3]) for r in conn.execute(
            "SELECT seq, order_id, source, outcome FROM order_events ORDER BY seq")]
    except sqlite3.OperationalError:  # not migrated yet: nothing was committed
        return []
    finally:
        conn.close()


def leaks(daemon: Daemon) -> int:
    """How many times a credential appears in the daemon's output or its database files."""
    blobs = [daemon.log]
    blobs += [daemon.db.with_name(daemon.db.name + suffix) for suffix in ("", "-wal")]
    count = 0
    for path in blobs:
        if path.exists():
            data = path.read_bytes()
            count += sum(data.count(secret.encode()) for secret in SECRETS)
    return count


def soak(scenarios: int, seed: int, jobs: int, length: float, keep: bool) -> list[Result]:
    def one(index: int) -> Result:
        workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{index}-"))
        result = Scenario(index, seed + index, workdir, length).run()
        if result.failed or keep:
            result.examples.append(f"logs and book kept in {workdir}")
        else:
            for path in sorted(workdir.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            workdir.rmdir()
        print(result.line(), flush=True)
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, range(1, scenarios + 1)))


def totals(results: list[Result]) -> dict[str, Any]:
    faults: Counter[str] = Counter()
    divergent: Counter[str] = Counter()
    for r in results:
        faults.update(r.faults)
        divergent.update(r.divergent)
    converge = sorted(r.converge_s for r in results if r.converge_s is not None)
    return {
        "scenarios": len(results),
        "failed_scenarios": sum(r.failed for r in results),
        "by_api": dict(Counter(r.api for r in results)),
        "events_sent": sum(r.events for r in results),
        "faults_injected": dict(sorted(faults.items())),
        "restarts": sum(r.restarts for r in results),
        "divergent_orders": sum(divergent.values()),
        "divergent_by_kind": dict(divergent),
        "journal_rows_lost": sum(r.journal_lost for r in results),
        "unexpected_exits": sum(len(r.unexpected_exits) for r in results),
        "unwritable_exits": sum(r.unwritable_exits for r in results),
        "secret_leaks": sum(r.secret_leaks for r in results),
        "errors": sum(r.error is not None for r in results),
        "converge_s_median": converge[len(converge) // 2] if converge else None,
        "converge_s_max": converge[-1] if converge else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1, help="scenario i uses seed + i")
    parser.add_argument("--jobs", type=int, default=1, help="scenarios run side by side")
    parser.add_argument("--length", type=float, default=6.0, help="seconds of faults each")
    parser.add_argument("--keep", action="store_true", help="keep every scenario's files")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = soak(args.scenarios, args.seed, args.jobs, args.length, args.keep)
    command = " ".join(["python -m bench.chaos", *(sys.argv[1:] if argv is None else argv)])
    summary = totals(results) | {"seconds": round(time.monotonic() - started, 1),
                                 "command": command}
    print(json.dumps(summary, indent=2))
    return 1 if summary["failed_scenarios"] else 0


if __name__ == "__main__":
    sys.exit(main())
