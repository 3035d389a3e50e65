"""Failover soak: two trackers on one account of a PostgreSQL book, one active and one hot
standby, under seeded faults that end the active's hold on the account; each scenario ends
with the book compared against the exchange's ground truth.

    python -m bench.failover --scenarios 50 --seed 1 --jobs 2

Every scenario starts a PostgreSQL server of its own, a simulator with steady order flow and
two `tracker run` for the same account. For 20-30 s it then draws (seeded) from: SIGKILL the
active (restarted, it comes back as the standby), SIGKILL the standby (restarted), crash the
server and start it again, end the active's connection from the server's side
(`pg_terminate_backend` of the lock holder's backend), and pauses. Then the flow stops and
the book must settle on the truth.

What is checked, per scenario:
- the book equals the simulator's truth (no divergent order);
- the journal's seqs run 1..n, none doubled, and every row read before a fault is still
  there unchanged (none lost); sync_state's outcome counters count the journal exactly;
- never two writers: the account's lock, sampled every 0.2 s from pg_locks, has at most one
  granted holder; and from the trackers' logs, no two processes' writing terms overlap in
  time. A term runs from `took_over`, `tracker_started` or a writer's `db_reconnected`
  (the one with `last_seq`; each logged after the claim was taken: a standby or a start
  that waited for the server logs `db_reconnected` without it, holding nothing) to
  whichever comes first of the end of the connection holding the claim (`db_unreachable`,
  the server's crash, the cut of that backend), `book_lost`, `standby_again`, or the
  process's death (the moment of its SIGKILL, or its last line);
- every takeover after an active was killed or cut off: the time from the fault to the
  moment sync_state names the standby's pid with live = 1 (polled every 50 ms).

Exit status 1 on any failure. A start refused with a sysexits code (69, 74, 75) while the
server is down, or just back, is expected (a supervisor restarts it) and counted apart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.chaos import (
    SERVER_FAULT_MARGIN,
    SOAK_ENV,
    UNWRITABLE_EXITS,
    JournalRow,
    book_journal,
    counted_journal,
    start_server,
)
from harness import PROFILES, Daemon, Sim, divergences
from harness.books import PostgresBook
from harness.postgres import Postgres
from harness.profiles import VENUES, Profile, of_venue
from harness.sim import SYMBOLS
from tracker.batch import COUNTERS as OUTCOMES
from tracker.postgres.migrate import LOCKERS
from tracker.postgres.readers import NAMED_PID

ACCOUNT = "acct"
FAULTS = ("kill_active", "kill_standby", "db_restart", "cut_active", "pause")
# Relative weights of the draws: the faults that make a standby take over most often.
WEIGHTS = (3, 2, 1, 3, 2)
TAKEOVER_TIMEOUT = 60.0
# Takeovers are drawn at most as often as the profile's venue lets a new writer start
# (`Profile.start_spacing_s`; faster, BitMart v2's new active would wait up to a minute for
# its session token, which measures the exchange, not the failover).
SAMPLE_EVERY = 0.2
# Events in a tracker's log that open and close its writing terms.
OPENS = frozenset({"took_over", "tracker_started", "db_reconnected"})
CLOSES = frozenset({"db_unreachable", "book_lost", "standby_again", "tracker_stopped"})


@dataclass
class Result:
    index: int
    seed: int
    profile: str = ""
    faults: Counter[str] = field(default_factory=Counter)
    takeovers: list[float] = field(default_factory=list)
    divergent: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    doubled: int = 0  # doubled seqs, and counter/journal mismatches
    two_writers: int = 0  # lock samples with two granted holders, and overlapping terms
    samples: int = 0
    unexpected_exits: list[int] = field(default_factory=list)
    unwritable_exits: int = 0
    examples: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.divergent or self.lost or self.doubled or self.two_writers
                    or self.unexpected_exits or self.error)

    def line(self) -> str:
        faults = ",".join(f"{k}:{v}" for k, v in sorted(self.faults.items())) or "-"
        took = ",".join(f"{t:.2f}" for t in self.takeovers) or "-"
        text = (f"#{self.index:<3} seed={self.seed} {self.profile} "
                f"{'FAILED' if self.failed else 'ok'} divergent={sum(self.divergent.values())} "
                f"lost={self.lost} doubled={self.doubled} two_writers={self.two_writers} "
                f"lock_samples={self.samples} exits={len(self.unexpected_exits)} "
                f"unwritable_exits={self.unwritable_exits} takeovers_s={took} "
                f"faults={faults} {self.seconds:.0f}s")
        if self.error:
            text += f"\n     error: {self.error}"
        for example in self.examples[:8]:
            text += f"\n     {example}"
        return text


@dataclass
class Run:
    """One process of a daemon: its start's number in the log, and when it ended (None while
    it lives)."""

    start: int
    pid: int
    ended: float | None = None
    killed: bool = False  # by the soak, which starts it again itself


class Tracker:
    """One of the two daemons and the history of its processes."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.runs: list[Run] = []

    def start(self) -> None:
        self.daemon.start()
        self.runs.append(Run(self.daemon.starts, self.daemon.pid))

    def kill(self) -> None:
        ended = time.time()
        self.daemon.signal(signal.SIGKILL)
        self.daemon.wait()
        self.runs[-1].ended = ended
        self.runs[-1].killed = True


class Scenario:
    """One seeded run: its server, simulator, two trackers and what happened to them."""

    def __init__(self, index: int, seed: int, workdir: Path, length: float | None = None,
                 profiles: tuple[Profile, ...] = PROFILES) -> None:
        self.rng = random.Random(seed)
        self.profile = self.rng.choice(profiles)
        self.result = Result(index, seed, profile=self.profile.name)
        self.workdir = workdir
        self.length = length if length is not None else self.rng.uniform(20.0, 30.0)
        self.server: Postgres | None = None
        self.book: PostgresBook | None = None
        self.trackers: list[Tracker] = []
        self.committed: set[JournalRow] = set()
        self.server_down = False
        self.server_back = float("-inf")
        # Wall-clock moments a connection holding the lock ended on the server's side:
        # (time, daemon pid or None for every connection).
        self.conn_ended: list[tuple[float, int | None]] = []
        self.sampling = threading.Event()
        self.last_takeover = float("-inf")

    def run(self) -> Result:
        started = time.monotonic()
        result = self.result
        sim: Sim | None = None
        sampler: threading.Thread | None = None
        try:
            self.server = start_server()
            self.book = PostgresBook(self.server.create_database(), ACCOUNT)
            sim = Sim(self.workdir, "--open-orders", "50", "--rate", "40",
                      "--seed", str(result.seed))
            for name in ("a", "b"):
                self.trackers.append(Tracker(Daemon(self.workdir, sim, profile=self.profile,
                                                    env=SOAK_ENV, store=self.book, name=name)))
            first, second = self.trackers
            first.start()
            first.daemon.wait_live(60)
            second.start()
            self._until(lambda: self._roles() is not None, 30, "the second waits as standby")
            self.sampling.set()
            sampler = threading.Thread(target=self._sample, name="lock-sampler", daemon=True)
            sampler.start()
            self._storm()
            if not result.takeovers:  # every scenario measures at least one failover
                self._takeover_fault("kill_active")
            sim.flow(0)
            self._settle(sim)
            self.sampling.clear()
            sampler.join(5)
            self._check_journal()
            self._check_terms()
        except Exception as exc:  # a broken scenario is reported, not fatal to the soak
            result.error = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            self.sampling.clear()
            if sampler is not None:
                sampler.join(5)
            self._end(sim)
            result.seconds = time.monotonic() - started
        return result

    # --- the storm -------------------------------------------------------------------

    def _storm(self) -> None:
        end = time.monotonic() + self.length
        while time.monotonic() < end:
            fault = self.rng.choices(FAULTS, WEIGHTS)[0]
            spaced = (time.monotonic() - self.last_takeover
                      >= self.profile.start_spacing_s)
            if fault in ("kill_active", "cut_active") and spaced:
                self._takeover_fault(fault)
                self.last_takeover = time.monotonic()
            elif fault == "kill_standby":
                self._kill_standby()
            elif fault == "db_restart":
                self._db_restart()
            elif fault == "pause" or not spaced:
                self.result.faults["pause"] += 1
                self._wait(self.rng.uniform(0.5, 3.0))
            self._wait(self.rng.uniform(0.2, 1.5))

    def _wait(self, seconds: float) -> None:
        """A pause that keeps both trackers running meanwhile."""
        end = time.monotonic() + seconds
        while True:
            self._keep_alive()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.1, left))

    def _keep_alive(self) -> None:
        """A tracker that exited on its own is a failure, unless it refused to start or to
        wait while the server was away; it is started again so the soak goes on."""
        for tracker in self.trackers:
            daemon = tracker.daemon
            if tracker.runs[-1].killed:
                continue
            if daemon.proc is not None and daemon.proc.poll() is not None:
                if tracker.runs[-1].ended is None:
                    tracker.runs[-1].ended = last_line_time(daemon.log) or time.time()
                code = daemon.proc.returncode
                if code in UNWRITABLE_EXITS and (
                        self.server_down
                        or time.monotonic() < self.server_back + SERVER_FAULT_MARGIN):
                    self.result.unwritable_exits += 1
                else:
                    self.result.unexpected_exits.append(code)
                    self.result.examples.append(f"{daemon.log.name} exited {code}")
                tracker.start()

    def _roles(self) -> tuple[Tracker, Tracker] | None:
        """(active, standby) when the server shows one of ours holding the account's lock and
        the other waiting for it, and sync_state names the holder, live; else None."""
        try:
            rows = self._superuser(LOCKERS, ACCOUNT)
            state = self._book().read().state
        except (psycopg.Error, AssertionError):
            return None
        by_pid = {t.daemon.pid: t for t in self.trackers if t.daemon.alive()}
        if not rows or not rows[0]["granted"]:
            return None
        active = by_pid.get(pid_of(rows[0]["name"]))
        # A killed standby's backend may still wait in the lock's queue (the server notices
        # a vanished client only when it answers it): only our live trackers count.
        waiting = [by_pid.get(pid_of(r["name"])) for r in rows[1:]]
        others = [t for t in waiting if t is not None and t is not active]
        if active is None or len(others) != 1:
            return None
        standby = others[0]
        if state["pid"] != active.daemon.pid or state["live"] != 1:
            return None
        return active, standby

    def _takeover_fault(self, fault: str) -> None:
        """SIGKILL the active, or end its connection on the server's side; then time the
        standby's takeover, and start a killed active again (it comes back as standby)."""
        roles = self._wait_roles(15)
        if roles is None:
            return
        active, standby = roles
        self._remember_journal()
        began = time.monotonic()
        if fault == "kill_active":
            active.kill()
        else:
            holder = [r["pid"] for r in self._superuser(LOCKERS, ACCOUNT) if r["granted"]
                      and pid_of(r["name"]) == active.daemon.pid]
            if not holder:
                return
            # The connection ends somewhere inside the call: its term is taken to end when the
            # call begins, or a standby taking over before it returns would look like a
            # second writer (it did once, by 2 ms, with the server showing one holder).
            asked = time.time()
            self._superuser("SELECT pg_terminate_backend(%s)", holder[0])
            self.conn_ended.append((asked, active.daemon.pid))
        self.result.faults[fault] += 1
        took = self._takeover(standby.daemon.pid, began)
        if took is None:
            self.result.examples.append(f"no takeover by {standby.daemon.log.name} within "
                                        f"{TAKEOVER_TIMEOUT:g} s of {fault}")
            self.result.error = self.result.error or f"no takeover after {fault}"
        else:
            self.result.takeovers.append(took)
        if fault == "kill_active":
            self._wait(self.rng.uniform(0.0, 1.0))
            active.start()

    def _wait_roles(self, timeout: float) -> tuple[Tracker, Tracker] | None:
        deadline = time.monotonic() + timeout
        while True:
            self._keep_alive()
            roles = self._roles()
            if roles is not None or time.monotonic() >= deadline:
                return roles
            time.sleep(0.1)

    def _takeover(self, pid: int, began: float) -> float | None:
        """Seconds from `began` until sync_state names `pid`, live (polled every 50 ms)."""
        deadline = began + TAKEOVER_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(AssertionError):
                state = self._book().read().state
                if state["pid"] == pid and state["live"] == 1:
                    return time.monotonic() - began
            self._keep_alive()
            time.sleep(0.05)
        return None

    def _kill_standby(self) -> None:
        roles = self._roles()
        if roles is None:
            return
        standby = roles[1]
        standby.kill()
        self.result.faults["kill_standby"] += 1
        self._wait(self.rng.uniform(0.0, 1.0))
        standby.start()

    def _db_restart(self) -> None:
        """The server crashes (every connection ends at once) and starts again."""
        assert self.server is not None
        self._remember_journal()
        self.server.crash()
        self.server_down = True
        self.conn_ended.append((time.time(), None))
        self.result.faults["db_restart"] += 1
        self._wait(self.rng.uniform(0.2, 3.0))
        self.server.restart()
        self.server_down = False
        self.server_back = time.monotonic()

    # --- reading and checking --------------------------------------------------------

    def _book(self) -> PostgresBook:
        assert self.book is not None
        return self.book

    def _superuser(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """`sql` in the book's database: the account's claim is a relation of it, which
        pg_locks names by its oid there."""
        assert self.server is not None and self.book is not None
        from psycopg.rows import dict_row

        with psycopg.connect(host=str(self.server.socket_dir), port=self.server.port,
                             user="postgres", dbname=self.book.database.name, autocommit=True,
                             connect_timeout=3, row_factory=dict_row) as conn:
            return conn.execute(sql, args).fetchall()

    def _sample(self) -> None:
        """The account's lock every SAMPLE_EVERY s: never more than one granted holder."""
        while self.sampling.is_set():
            if not self.server_down:
                try:
                    rows = self._superuser(LOCKERS, ACCOUNT)
                except psycopg.Error:
                    rows = None
                if rows is not None:
                    self.result.samples += 1
                    granted = [r["name"] for r in rows if r["granted"]]
                    if len(granted) > 1:
                        self.result.two_writers += 1
                        self.result.examples.append(f"two holders of the lock: {granted}")
            time.sleep(SAMPLE_EVERY)

    def _remember_journal(self) -> None:
        if self.server_down:
            return
        with contextlib.suppress(AssertionError):
            self.committed.update(book_journal(self._book()))

    def _until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() >= deadline:
                raise AssertionError(f"not within {timeout:g} s: {what}")
            self._keep_alive()
            time.sleep(0.1)

    def _settle(self, sim: Sim) -> None:
        """One tracker active and live, the other waiting; then the book equals the truth."""
        if self._wait_roles(60) is None:
            self.result.error = "no active and standby pair within 60 s after the storm"
        deadline = time.monotonic() + 90
        while True:
            self._keep_alive()
            found: list[tuple[str, str]] = [("unreadable", "the book cannot be read")]
            with contextlib.suppress(AssertionError):
                found = divergences(self._book().read(), self.profile.keyed(sim.truth()),
                                    self.profile.symbols(SYMBOLS))
            if not found:
                return
            if time.monotonic() >= deadline:
                self.result.divergent.update(kind for kind, _ in found)
                self.result.examples.extend(text for _, text in found)
                return
            time.sleep(0.25)

    def _check_journal(self) -> None:
        rows, counted = counted_journal(self._book())
        seqs = [r[0] for r in rows]
        self.result.doubled = len(seqs) - len(set(seqs))
        gaps = set(range(1, max(seqs) + 1)) - set(seqs) if seqs else set()
        kept = set(rows)
        self.result.lost = len(gaps) + sum(1 for r in self.committed if r not in kept)
        outcomes = Counter(r[3] for r in rows)
        miscounted = sum(abs(counted[k] - outcomes[k]) for k in OUTCOMES)
        self.result.doubled += miscounted
        if miscounted:
            self.result.examples.append(
                "sync_state counts " + ", ".join(f"{k}={counted[k]}" for k in OUTCOMES)
                + "; the journal holds " + ", ".join(f"{k}={outcomes[k]}" for k in OUTCOMES))
        if self.result.lost:
            self.result.examples.append(f"journal: {len(gaps)} seqs missing of 1..{max(seqs)}, "
                                        f"{len(self.committed - kept)} rows read before a "
                                        "fault gone or changed")

    def _check_terms(self) -> None:
        """No two processes' writing terms overlap in time (see the module's docstring)."""
        terms: list[tuple[float, float, str]] = []
        for tracker in self.trackers:
            events = runs_of(tracker.daemon.log)
            for run in tracker.runs:
                cuts = sorted(t for t, who in self.conn_ended if who is None or who == run.pid)
                name = f"{tracker.daemon.log.name} start {run.start} pid {run.pid}"
                terms += writing_terms(events.get(run.start, []), cuts,
                                       run.ended or time.time(), name)
        terms.sort()
        for i, (start, end, who) in enumerate(terms):
            for later_start, _, other in terms[i + 1:]:
                if later_start >= end:
                    break
                if other != who:
                    self.result.two_writers += 1
                    self.result.examples.append(
                        f"terms overlap: {who} {iso(start)}..{iso(end)} and {other} from "
                        f"{iso(later_start)}")

    def _end(self, sim: Sim | None) -> None:
        for tracker in self.trackers:
            with contextlib.suppress(Exception):
                tracker.daemon.close()
        if sim is not None:
            with contextlib.suppress(Exception):
                sim.close()
        if self.server is not None:
            try:
                if self.server_down:
                    self.server.restart()
                if self.result.failed:
                    shutil.copy(self.server.log, self.workdir / "postgres.log")
            except Exception as exc:
                self.result.error = self.result.error or f"{type(exc).__name__}: {exc}"[:2000]
            finally:
                with contextlib.suppress(Exception):
                    self.server.stop()


def pid_of(name: str | None) -> int | None:
    """The tracker's pid in its connection's application_name ("tracker A pid N on H")."""
    found = NAMED_PID.search(name or "")
    return int(found.group(1)) if found else None


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment).isoformat(timespec="milliseconds")


def stamp(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


def runs_of(log: Path) -> dict[int, list[dict[str, Any]]]:
    """The JSON events of each process (by start number) in a daemon's log."""
    runs: dict[int, list[dict[str, Any]]] = {}
    current = 0
    text = log.read_text(errors="replace") if log.exists() else ""
    for line in text.splitlines():
        started = re.match(r"=== start (\d+) ===", line)
        if started:
            current = int(started.group(1))
            runs[current] = []
        elif line.startswith("{") and current:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if "timestamp" in event:
                    runs[current].append(event)
    return runs


def last_line_time(log: Path) -> float | None:
    runs = runs_of(log)
    if not runs:
        return None
    events = runs[max(runs)]
    return stamp(events[-1]) if events else None


def writing_terms(events: list[dict[str, Any]], cuts: list[float], ended: float,
                  name: str) -> list[tuple[float, float, str]]:
    """The intervals in which one process could write: opened by a line logged after it took
    the lock, closed by the first of a line saying it lost or let go of its connection, the
    server ending that connection (`cuts`), or the process's end."""
    terms: list[tuple[float, float, str]] = []
    opened: float | None = None
    for event in events:
        moment, kind = stamp(event), event.get("event")
        if opened is not None:
            cut = next((c for c in cuts if opened <= c <= moment), None)
            if cut is not None:
                terms.append((opened, cut, name))
                opened = None
        if kind in OPENS and opened is None and (kind != "db_reconnected"
                                                  or "last_seq" in event):
            opened = moment
        elif kind in CLOSES and opened is not None:
            terms.append((opened, moment, name))
            opened = None
    if opened is not None:
        cut = next((c for c in cuts if c >= opened), None)
        terms.append((opened, min(ended, cut if cut is not None else ended), name))
    return terms


def soak(scenarios: int, seed: int, jobs: int, length: float | None = None,
         keep: bool = False, out: Callable[[str], None] | None = None,
         venue: str | None = None) -> list[Result]:
    """Run the scenarios, `jobs` at a time; each one's line goes to `out` as it ends
    (stdout, flushed, by default). `venue`: draw each scenario's profile from that venue's
    only (None: every venue's)."""
    say = out or (lambda line: print(line, flush=True))
    profiles = of_venue(venue)

    def one(index: int) -> Result:
        workdir = Path(tempfile.mkdtemp(prefix=f"failover-{index}-"))
        try:
            result = Scenario(index, seed + index, workdir, length, profiles).run()
        except Exception as exc:  # its ending failed: this scenario's error, not the soak's
            result = Result(index, seed + index, error=f"{type(exc).__name__}: {exc}"[:2000])
        if result.failed or keep:
            result.examples.append(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        say(result.line())
        return result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, range(1, scenarios + 1)))


def totals(results: list[Result]) -> dict[str, Any]:
    faults: Counter[str] = Counter()
    for r in results:
        faults.update(r.faults)
    took = sorted(t for r in results for t in r.takeovers)
    return {
        "scenarios": len(results),
        "failed": sum(r.failed for r in results),
        "divergent": sum(sum(r.divergent.values()) for r in results),
        "lost": sum(r.lost for r in results),
        "doubled": sum(r.doubled for r in results),
        "two_writers": sum(r.two_writers for r in results),
        "unexpected_exits": sum(len(r.unexpected_exits) for r in results),
        "unwritable_exits": sum(r.unwritable_exits for r in results),
        "errors": sum(r.error is not None for r in results),
        "lock_samples": sum(r.samples for r in results),
        "takeovers": len(took),
        "takeover_s_median": round(statistics.median(took), 3) if took else None,
        "takeover_s_max": round(took[-1], 3) if took else None,
        "faults": {k: faults[k] for k in FAULTS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1, help="scenario i uses seed + i")
    parser.add_argument("--jobs", type=int, default=1, help="scenarios run side by side")
    parser.add_argument("--length", type=float, default=None,
                        help="seconds of faults each (default: 20-30, drawn from the seed)")
    parser.add_argument("--keep", action="store_true", help="keep every scenario's logs")
    parser.add_argument("--venue", choices=VENUES, default=None,
                        help="draw every scenario's venue from this one (default: every venue)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = soak(args.scenarios, args.seed, args.jobs, args.length, args.keep,
                   venue=args.venue)
    command = " ".join(["python -m bench.failover", *(sys.argv[1:] if argv is None else argv)])
    summary = totals(results) | {"seconds": round(time.monotonic() - started, 1),
                                 "command": command}
    print(json.dumps(summary, indent=2))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
