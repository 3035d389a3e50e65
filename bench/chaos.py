"""Chaos soak: seeded scenarios of order flow, faults and SIGKILLs, each ending with the
book compared against the exchange's ground truth.

    python -m bench.chaos --scenarios 200 --seed 1 --jobs 2
    python -m bench.chaos --store postgres --scenarios 100 --seed 1 --jobs 4

Every scenario starts a simulator and the daemon as real subprocesses, then for a few
seconds draws actions from everything the simulator can inject (dropped, duplicated,
delayed and reordered pushes; abrupt and clean disconnects; silence; REST 5xx, 429,
slowness and lag; REST answers that trickle in or never end; token expiry, early and on
demand; orders moving between pages; a server clock minutes off; and each venue's own,
VENUE_ACTIONS: Binance's shutdowns and ended subscriptions, OKX's 64008 notices, revoked
keys, pushes repeated with another uTime, and its idle cut met by a frozen daemon) plus
SIGKILL and restart of the daemon, and a book that cannot be written for a while: another
process holding its write lock, or (as root, on a small tmpfs) a full disk; and all along,
a reader flooding the book's change feed (connecting many times a second, holding more
connections than the feed takes, sending garbage), whose whole account in the daemon's log
must stay a few lines a start (`log_flood`). In about half the scenarios a mismatched
tracker (another account's keys, or fewer symbols) tries to take the book over when the
daemon is killed, and must be refused (exit 78) without writing. Then the faults and the
flow stop, and the daemon must bring its book to the truth on its own (its periodic
reconcile is set short, as an operator would for a lossy link). A scenario replays from its
seed, up to the timing of the machine.

With `--store postgres` the book is an account of a PostgreSQL database, on a throwaway
cluster of the scenario's own (initdb takes about 2 s): there a book that cannot be written
is the server crashed (`pg_ctl stop -m immediate`, then started again) or frozen (SIGSTOP,
then SIGCONT), and a server fault must stay the fault of the one scenario that drew it, so
scenarios running side by side (--jobs) share no server.

Exit status 1 on any divergent order, lost or doubled journal row (the outcome counters of
sync_state must count the journal's rows exactly), unexpected daemon exit, mismatched
tracker not refused, or secret found in the daemon's output or database. A start refused
with a sysexits code (74, 75, 69) while the book cannot be written is expected, and counted
apart: a supervisor restarts it; a PostgreSQL book the daemon declared lost (`book_lost`)
never is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
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
    PROFILES,
    BookView,
    Daemon,
    Sim,
    divergences,
    eventually,
    fill_disk,
    logged,
    ro_connect,
)
from harness.books import BookUnderTest, PostgresBook
from harness.flood import FeedFlood
from harness.postgres import BIN, Postgres, client_env
from harness.profiles import VENUES, Profile, of_venue
from harness.sim import SYMBOLS
from tracker.batch import COUNTERS as OUTCOMES

CALM = {"push_drop": 0.0, "push_duplicate": 0.0, "push_delay_ms": 0, "push_reorder": 0.0,
        "ws_silent": False, "rest_5xx": 0.0, "rest_429": 0.0, "rest_slow_ms": 0,
        "rest_trickle_ms": 0, "rest_endless": False, "rest_lag_ms": 0, "token_ttl_s": 900.0,
        "page_shift": 0, "clock_skew_ms": 0, "rest_stale_ms": 0, "stream_end": 0.0,
        "push_repeat": 0.0}
# The OKX face's idle cut (4004) in the soak: a connection whose client sent nothing for
# this long is closed. The tracker's text ping, every TRACKER_PING_INTERVAL, keeps it open
# while the tracker runs; a tracker frozen past it (`_okx_idle`) finds its connection cut.
OKX_IDLE_S = 3.0
# What only one venue's simulator face can do, by venue: its own options for the scenario,
# the tracker's settings that match them, and the storm's actions that drive them, each a
# weight and the name of a Scenario method (a venue is one more entry of each).
# Binance: connections that live 4 s, and a tracker that knows it, so that it replaces one
# every few seconds all along.
# OKX: the idle cut at OKX_IDLE_S and a ping well within it (OKX's own are 30 s and the
# default 10 s); a key restored after a revocation is tried again within a second or two
# (the default waits 60 s after refused credentials, longer than the scenario).
VENUE_SIM_ARGS = {"binance": ("--binance-max-age", "4", "--binance-shutdown-delay", "1"),
                  "okx": ("--okx-idle-timeout", f"{OKX_IDLE_S:g}")}
VENUE_ENV = {"binance": {"TRACKER_CONNECTION_MAX_AGE_S": "4"},
             "okx": {"TRACKER_PING_INTERVAL": "1", "TRACKER_AUTH_BACKOFF": "1.5"}}
VENUE_ACTIONS: dict[str, tuple[tuple[int, str], ...]] = {
    "binance": ((2, "_binance_stream"),),
    "okx": ((1, "_okx_notice"), (1, "_okx_revoke"), (1, "_okx_repeat"), (1, "_okx_idle")),
}
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
STORES = ("sqlite", "postgres")
ACCOUNT = "chaos"
# How long after a server fault ends a refused start is still put down to it: a start that
# tried the server while it was away is noticed on the storm's next turn (up to ~2 s on a
# busy machine), and its predecessor's backend may hold the account's lock a moment longer.
SERVER_FAULT_MARGIN = 5.0
# The feed-flood reader's connections held open at once: past the feed's 256 readers.
FLOOD_HELD = 300
# The feed's log lines a daemon start may write however long the flood: each of its four
# episodes (readers capped, a reader that sent, one dropped, accept failing) begun and
# ended, and its readers limited by the descriptor limit.
FEED_LOG_PER_START = 9
JournalRow = tuple[int, str, str, str]
# The share of scenarios in which a mismatched tracker tries to take the book over, drawn
# from a second random stream so that the storm of every seed stays what it was.
MISMATCHED_SHARE = 0.5
EX_CONFIG = 78


@dataclass
class Result:
    index: int
    seed: int
    profile: str = ""
    events: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    divergent: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    journal_lost: int = 0
    journal_doubled: int = 0  # rows the outcome counters count beyond the journal's, or short
    converge_s: float | None = None
    unexpected_exits: list[int] = field(default_factory=list)
    unwritable_exits: int = 0  # refused starts while the book could not be written
    mismatched_admitted: int = 0  # mismatched trackers that were not refused with 78
    secret_leaks: int = 0
    log_flood: int = 0  # the feed's log lines past FEED_LOG_PER_START a daemon start
    error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.divergent or self.journal_lost or self.journal_doubled
                    or self.unexpected_exits or self.mismatched_admitted or self.secret_leaks
                    or self.log_flood
                    or self.error)

    def line(self) -> str:
        faults = ",".join(f"{k}:{v}" for k, v in sorted(self.faults.items())) or "-"
        divergent = ",".join(f"{k}:{v}" for k, v in sorted(self.divergent.items())) or "0"
        converge = "-" if self.converge_s is None else f"{self.converge_s:.1f}s"
        text = (f"#{self.index:<3} seed={self.seed} {self.profile} events={self.events} "
                f"restarts={self.restarts} divergent={divergent} journal_lost="
                f"{self.journal_lost} doubled={self.journal_doubled} converge={converge} "
                f"exits={len(self.unexpected_exits)} "
                f"unwritable_exits={self.unwritable_exits} "
                f"mismatched_admitted={self.mismatched_admitted} "
                f"leaks={self.secret_leaks} log_flood={self.log_flood} faults={faults}")
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

    def __init__(self, index: int, seed: int, workdir: Path, length: float,
                 store: str = "sqlite", keep: bool = False,
                 profiles: tuple[Profile, ...] = PROFILES) -> None:
        self.rng = random.Random(seed)
        self.profile = self.rng.choice(profiles)
        self.env = SOAK_ENV | VENUE_ENV.get(self.profile.venue, {})
        self.result = Result(index, seed, profile=self.profile.name)
        self.workdir = workdir
        self.length = length
        self.store = store
        self.keep = keep  # the PostgreSQL book dumped beside the logs even when it passed
        self.silent_until = 0.0
        self.hostile_until = 0.0  # when trickling or endless REST answers stop
        self.revoked_until = 0.0  # when the account's revoked key is restored (OKX)
        # Every journal row ever read (before each SIGKILL and each server fault): the
        # journal is append-only, so each must still be there, unchanged, at the end.
        self.committed: set[JournalRow] = set()
        self.disk: Path | None = None  # a small tmpfs holding the book, when root
        self.locker: sqlite3.Connection | None = None  # holds the book's write lock
        self.filler: Path | None = None  # takes the disk's last free byte
        self.unwritable_until = 0.0
        self.server: Postgres | None = None  # the scenario's own, with --store postgres
        self.frozen: list[int] | None = None  # the server's processes, SIGSTOPped
        self.server_down = False  # crashed, not started again yet
        self.server_back = float("-inf")  # when the last server fault ended
        side = random.Random(seed * 1_000_003 + 30)  # not `rng`: the storm's draws stay
        self.mismatched_due: float | None = (
            side.uniform(0.2, 0.8) * length if side.random() < MISMATCHED_SHARE else None)
        self.mismatched_keys = side.random() < 0.5  # else fewer symbols
        self.rogues: list[Daemon] = []
        self.rogue_secrets: list[str] = []

    def run(self) -> Result:
        started = time.monotonic()
        rng, result = self.rng, self.result
        sim = Sim(self.workdir, "--open-orders", str(rng.randint(10, 60)),
                  "--rate", str(rng.randint(20, 100)), "--seed", str(result.seed),
                  *VENUE_SIM_ARGS.get(self.profile.venue, ()))
        try:
            daemon = self._daemon(sim)
        except Exception as exc:  # no server for this scenario: reported, the soak goes on
            sim.close()
            if self.server is not None:
                self.server.stop()
            result.error = f"{type(exc).__name__}: {exc}"[:2000]
            result.seconds = time.monotonic() - started
            return result
        flood: FeedFlood | None = None
        try:
            daemon.start()
            daemon.wait_live(60)
            flood = flood_feed(daemon, self.store)
            self._storm(sim, daemon)
            sim.faults(**CALM)
            self._restore_key(sim)
            self._writable()
            if self.mismatched_due is not None:  # the storm never let it in: now, then
                # Once a server fault is well past; a start it refused meanwhile is put
                # down to it as it happens, as in the storm.
                while time.monotonic() < self.server_back + SERVER_FAULT_MARGIN:
                    self._keep_alive(daemon)
                    time.sleep(0.25)
                self._mismatched(sim, daemon)
            sim.flow(0)
            calm_since = time.monotonic()
            self._keep_alive(daemon)
            self._converge(sim, daemon, timeout=90)
            result.converge_s = time.monotonic() - calm_since
            self._check_journal(daemon)
            result.events = int(sim.stats()["counters"].get("pushes_sent", 0))
            result.faults.update({k: v for k, v in sim.stats()["injected"].items() if v})
        except Exception as exc:  # a broken scenario is reported, not fatal to the soak
            result.error = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            try:
                self._writable()
            except Exception as exc:  # a server that will not start again: said, not fatal
                result.error = result.error or f"{type(exc).__name__}: {exc}"[:2000]
            if flood is not None:
                flood.stop()
                result.faults["feed_flood_connects"] += flood.connects
            daemon.close()
            result.log_flood = feed_log_excess(daemon)
            sim.close()
            if self.server is not None:
                self._end_server(daemon)
            else:
                result.secret_leaks = leaks(daemon, (*SECRETS, *self.rogue_secrets),
                                            rogues=self.rogues)
            if self.disk is not None:
                for path in self.disk.iterdir():  # kept beside the logs, off the tmpfs
                    shutil.move(path, self.workdir / path.name)
                subprocess.run(["umount", "-l", str(self.disk)], check=False)
            result.seconds = time.monotonic() - started
        return result

    def _daemon(self, sim: Sim) -> Daemon:
        """The daemon on this scenario's book: an SQLite file (on a small tmpfs, as root),
        or an account of a database on a PostgreSQL server of the scenario's own."""
        if self.store == "postgres":
            self.server = start_server()
            store = PostgresBook(self.server.create_database(), ACCOUNT)
            return Daemon(self.workdir, sim, profile=self.profile, env=self.env, store=store)
        self.disk = small_disk(self.workdir / "disk")
        return Daemon(self.workdir, sim, profile=self.profile, env=self.env,
                      db=(self.disk or self.workdir) / "book.db")

    def actions(self) -> list[tuple[int, Callable[[Sim, Daemon], None]]]:
        """What the storm draws from, by weight: every venue's, then its venue's own (last,
        so that a venue's entry leaves the draws of the others' seeds as they were)."""
        return [(3, self._push_faults), (2, self._rest_faults), (1, self._hostile_answers),
                (1, self._silence), (2, self._disconnect), (1, self._tokens),
                (1, self._page_shift), (1, self._clock_skew), (2, self._sigkill),
                (2, self._calm), (1, self._unwritable),
                *((weight, getattr(self, name))
                  for weight, name in VENUE_ACTIONS.get(self.profile.venue, ()))]

    def _storm(self, sim: Sim, daemon: Daemon) -> None:
        actions = self.actions()
        weights = [w for w, _ in actions]
        start = time.monotonic()
        end = start + self.length
        while time.monotonic() < end:
            if self.mismatched_due is not None and time.monotonic() >= start + \
                    self.mismatched_due and self._mismatched(sim, daemon):
                self.mismatched_due = None
            action = self.rng.choices([a for _, a in actions], weights)[0]
            action(sim, daemon)
            time.sleep(self.rng.uniform(0.1, 0.7))
            if self.silent_until and time.monotonic() >= self.silent_until:
                sim.faults(ws_silent=False)
                self.silent_until = 0.0
            if self.hostile_until and time.monotonic() >= self.hostile_until:
                sim.faults(rest_trickle_ms=0, rest_endless=False)
                self.hostile_until = 0.0
            if self.revoked_until and time.monotonic() >= self.revoked_until:
                self._restore_key(sim)
            if self.unwritable_until and time.monotonic() >= self.unwritable_until:
                self._writable()
            self._keep_alive(daemon)

    def _keep_alive(self, daemon: Daemon) -> None:
        """A daemon that died on its own is a failure, unless it refused to start on a book
        it could not write; it is restarted so the soak goes on."""
        if daemon.proc is not None and daemon.proc.poll() is not None:
            code = daemon.proc.returncode
            if code in UNWRITABLE_EXITS and self._unwritable_now(daemon):
                self.result.unwritable_exits += 1
            else:
                self.result.unexpected_exits.append(code)
            daemon.start()

    def _unwritable_now(self, daemon: Daemon) -> bool:
        """Whether a refused start is the book's fault of the moment (or of a moment ago),
        not the daemon's. A PostgreSQL book the daemon declared lost is never that: the
        server's faults lose no commit (a crash keeps what the WAL holds)."""
        if self.server is None:
            return bool(self.locker or self.filler
                        or time.monotonic() < self.unwritable_until + 2)
        if '"book_lost"' in last_start(daemon.log):
            return False
        return (self.server_down or self.frozen is not None
                or time.monotonic() < self.server_back + SERVER_FAULT_MARGIN)

    def _unwritable(self, sim: Sim, daemon: Daemon) -> None:
        """The book cannot be written for a while, sometimes past the point where it stops
        being live (5 s) and its queue overflows: a full disk (when there is a tmpfs to
        fill) or another process holding the write lock; on PostgreSQL, the server."""
        if self.server is not None:
            self._server_fault(daemon)
            return
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

    def _server_fault(self, daemon: Daemon) -> None:
        """The server crashed (every process ends at once; started again later, recovering
        from its WAL) or frozen (connections open, nothing answers: a hung host)."""
        assert self.server is not None
        if self.server_down or self.frozen is not None:
            return
        self._remember_journal(daemon)
        if self.rng.random() < 0.5:
            self.server.crash()
            self.server_down = True
            self.result.faults["pg_crash"] += 1
        else:
            self.frozen = freeze(self.server)
            self.result.faults["pg_freeze"] += 1
        self.unwritable_until = time.monotonic() + self.rng.uniform(0.5, 8.0)

    def _writable(self) -> None:
        if self.frozen is not None:
            Postgres.thaw(self.frozen)
            self.frozen = None
            self.server_back = time.monotonic()
        if self.server_down and self.server is not None:
            self.server.restart()
            self.server_down = False
            self.server_back = time.monotonic()
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

    def _binance_stream(self, sim: Sim, daemon: Daemon) -> None:
        """Binance's own ways for a stream to end or trail: a shutdown announced (the
        tracker hands over to a new connection), subscriptions ended by the server (now, or
        at a random event), and REST reads that trail the engine."""
        kind = self.rng.choice(("shutdown", "terminate", "stream_end", "rest_stale"))
        if kind == "shutdown":
            sim.face("binance", "shutdown", delay_s=self.rng.uniform(0.2, 2.0))
        elif kind == "terminate":
            sim.face("binance", "terminate")
        elif kind == "stream_end":
            sim.faults(stream_end=self.rng.choice((0.0, 0.01, 0.05)))
        else:
            sim.faults(rest_stale_ms=self.rng.choice((0, 300, 900)))
        self.result.faults[f"binance_{kind}"] += 1

    def _okx_notice(self, sim: Sim, daemon: Daemon) -> None:
        """OKX announces a service upgrade (64008) and closes the connection a moment
        later: the tracker opens the next connection before the old one goes (or, closed
        at once, reconnects)."""
        sim.face("okx", "notice", delay_s=self.rng.choice((0.0, 0.3, 1.0, 3.0)))
        self.result.faults["okx_notice"] += 1

    def _okx_revoke(self, sim: Sim, daemon: Daemon) -> None:
        """The account's key deleted for a while (its connections closed with 4007, its
        logins refused with 60009, its REST calls with 50111), then restored."""
        if self.revoked_until:
            return
        sim.face("okx", "revoke")
        self.revoked_until = time.monotonic() + self.rng.uniform(0.5, 4.0)
        self.result.faults["okx_revoke"] += 1

    def _restore_key(self, sim: Sim) -> None:
        if self.revoked_until:
            sim.face("okx", "revoke", revoked=False)
            self.revoked_until = 0.0

    def _okx_repeat(self, sim: Sim, daemon: Daemon) -> None:
        """OKX's own duplicate: a push sent again with a later uTime ("the same message may
        be sent multiple times (perhaps with the different uTime)"), which only the merge
        key's other parts can tell from a change."""
        sim.faults(push_repeat=self.rng.choice((0.0, 0.1, 0.5)))

    def _okx_idle(self, sim: Sim, daemon: Daemon) -> None:
        """The tracker frozen (SIGSTOP: a paused host) past OKX's idle cut: its pings stop,
        the face closes the connection with 4004, and the tracker, woken, finds it gone
        and must splice again."""
        self._keep_alive(daemon)
        cuts = sim.counter("ws_closed_idle")
        daemon.signal(signal.SIGSTOP)
        try:
            time.sleep(OKX_IDLE_S + self.rng.uniform(0.5, 2.0))
        finally:
            daemon.signal(signal.SIGCONT)
        self.result.faults["okx_freeze"] += 1
        if sim.counter("ws_closed_idle") > cuts:
            self.result.faults["okx_idle_cut"] += 1

    def _clock_skew(self, sim: Sim, daemon: Daemon) -> None:
        sim.faults(clock_skew_ms=self.rng.choice((-120_000, -5_000, 30_000, 90_000)))
        self.result.faults["clock_skew"] += 1

    def _sigkill(self, sim: Sim, daemon: Daemon) -> None:
        self._keep_alive(daemon)
        self._remember_journal(daemon)
        daemon.signal(signal.SIGKILL)
        daemon.wait()
        self.result.faults["sigkill"] += 1
        time.sleep(self.rng.uniform(0.0, 1.0))
        daemon.start()
        self.result.restarts += 1

    def _mismatched(self, sim: Sim, daemon: Daemon) -> bool:
        """A tracker with another account's keys, or fewer symbols, tries to take the book
        over when the daemon dies: on PostgreSQL it starts beside the daemon as its standby
        (and is refused as it would start to wait), then the daemon is killed; on SQLite it
        is started on the file the moment the daemon is killed (a second unit, wrongly
        configured). It must leave with 78, naming what differs, and write nothing: the
        journal check and the convergence at the end hold the book to that. False while the
        book cannot be written (a refusal then would say nothing of the identity)."""
        if (self.locker or self.filler or self.server_down or self.frozen is not None
                or time.monotonic() < self.server_back + SERVER_FAULT_MARGIN):
            return False
        self._keep_alive(daemon)
        if self.mismatched_keys:
            keys = {"TRACKER_API_KEY": secrets.token_hex(16),
                    "TRACKER_API_SECRET": secrets.token_hex(32), "TRACKER_API_MEMO": "rogue"}
            self.rogue_secrets += [keys["TRACKER_API_KEY"], keys["TRACKER_API_SECRET"]]
            env, differs = self.env | keys, "other API keys"
        else:
            env = self.env | {"TRACKER_SYMBOLS": self.profile.symbol(SYMBOLS[0])}
            differs = "covers symbols"
        rogue = Daemon(self.workdir, sim, profile=self.profile, env=env, store=daemon.store,
                       db=daemon.db, name=f"mismatched{len(self.rogues) + 1}")
        self.rogues.append(rogue)
        if self.server is not None:
            rogue.start()
            with contextlib.suppress(AssertionError):
                eventually(lambda: _waits(rogue), 20, "the mismatched tracker waits")
        self._remember_journal(daemon)
        daemon.signal(signal.SIGKILL)
        daemon.wait()
        if self.server is None:
            rogue.start()
        try:
            code = rogue.wait(30)
        except subprocess.TimeoutExpired:
            code = None
        refusal = last_start(rogue.log).splitlines()[-1:]
        if code != EX_CONFIG or not refusal or differs not in refusal[0]:
            self.result.mismatched_admitted += 1
            self.result.examples.append(f"mismatched tracker exit {code}: {refusal}")
            rogue.close()
        self.result.faults["mismatched_" + ("keys" if self.mismatched_keys else "symbols")] += 1
        daemon.start()
        self.result.restarts += 1
        return True

    def _calm(self, sim: Sim, daemon: Daemon) -> None:
        sim.faults(**CALM)
        self._restore_key(sim)
        self.silent_until = 0.0
        self.hostile_until = 0.0

    def _remember_journal(self, daemon: Daemon) -> None:
        """What the journal holds now, when it can be read (not while its server is away:
        a frozen server would hold the reader as long as its connect timeout)."""
        if self.server is None:
            if daemon.db.exists():
                self.committed.update(journal_rows(daemon.db))
            return
        if self.server_down or self.frozen is not None:
            return
        with contextlib.suppress(AssertionError):  # not migrated yet: nothing committed
            self.committed.update(book_journal(daemon.store))

    def _converge(self, sim: Sim, daemon: Daemon, timeout: float) -> BookView:
        deadline = time.monotonic() + timeout
        while True:
            self._keep_alive(daemon)
            try:
                book = daemon.store.read()
            except AssertionError:  # a restart is creating the book right now
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.25)
                continue
            found = divergences(book, self.profile.keyed(sim.truth()),
                                self.profile.symbols(SYMBOLS))
            if not found:
                return book
            if time.monotonic() >= deadline:
                self.result.divergent.update(kind for kind, _ in found)
                self.result.examples.extend(text for _, text in found)
                return book
            time.sleep(0.25)

    def _check_journal(self, daemon: Daemon) -> None:
        """Every row committed before a SIGKILL or a server fault is still there, unchanged,
        and seq has no gap: the journal is append-only across crashes. Nor was any batch
        written twice: sync_state's outcome counters, which each batch adds to in the
        transaction of its rows, count exactly the journal's rows."""
        rows, counted = counted_journal(daemon.store)
        seqs = [r[0] for r in rows]
        gaps = len(set(range(1, seqs[-1] + 1)) - set(seqs)) if seqs else 0
        kept = set(rows)
        self.result.journal_lost = gaps + sum(1 for r in self.committed if r not in kept)
        outcomes = Counter(r[3] for r in rows)
        self.result.journal_doubled = sum(abs(counted[k] - outcomes[k]) for k in OUTCOMES)
        if self.result.journal_doubled:
            self.result.examples.append(
                "sync_state counts " + ", ".join(f"{k}={counted[k]}" for k in OUTCOMES)
                + "; the journal holds " + ", ".join(f"{k}={outcomes[k]}" for k in OUTCOMES))

    def _secrets(self, daemon: Daemon) -> tuple[str, ...]:
        if isinstance(daemon.store, PostgresBook):
            return (*SECRETS, daemon.store.database.password)
        return SECRETS

    def _end_server(self, daemon: Daemon) -> None:
        """Search the cluster's files for secrets, keep a failed (or kept) scenario's book
        beside its logs (a dump, and the server's log), then delete the cluster. Whatever
        goes wrong here is the scenario's error, never the soak's end, and the cluster is
        deleted all the same."""
        assert self.server is not None and isinstance(daemon.store, PostgresBook)
        result = self.result
        try:
            # Whatever stopped process a fault left (SIGCONT wakes only what was stopped).
            if (self.server.data / "postmaster.pid").exists():
                Postgres.thaw(self.server.pids())
            result.secret_leaks = leaks(daemon, (*self._secrets(daemon), *self.rogue_secrets),
                                        self.server, self.rogues)
            if result.failed or self.keep:
                shutil.copy(self.server.log, self.workdir / "postgres.log")
                database = daemon.store.database
                subprocess.run([str(BIN / "pg_dump"), "--dbname", database.url(password=False),
                                "--file", str(self.workdir / "book.sql")], check=False,
                               capture_output=True, timeout=60,
                               env=client_env(dict(os.environ)) | {
                                   "PGPASSWORD": database.password})
        except Exception as exc:
            result.error = result.error or f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            try:
                self.server.stop()
            except Exception as exc:
                result.error = result.error or f"{type(exc).__name__}: {exc}"[:2000]


def flood_feed(daemon: Daemon, store: str) -> FeedFlood | None:
    """Beside the faults, from the start of the storm to the end of the scenario, a reader
    of the SQLite book's change feed as hostile as it gets: it connects many times a second,
    holds more connections than the feed takes readers, and every fifth one sends garbage.
    The book must still end exact, and the daemon's log say so in a few lines."""
    if store != "sqlite":
        return None  # a PostgreSQL book has no socket: its feed is NOTIFY
    return FeedFlood(daemon.db, held=FLOOD_HELD, burst=10, pace=0.05).start()


def feed_log_excess(daemon: Daemon) -> int:
    """The feed's log lines beyond what its episodes account for, each start's own."""
    text = daemon.log.read_text(errors="replace") if daemon.log.exists() else ""
    lines = text.count('"logger": "tracker.feed"')
    return max(0, lines - FEED_LOG_PER_START * daemon.starts)


def small_disk(path: Path) -> Path | None:
    """A tmpfs for the book, so a full disk can be played without filling the machine's;
    None where mounting is not allowed (not root)."""
    if os.geteuid() != 0:
        return None
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs",
                           str(path)], capture_output=True)
    return path if done.returncode == 0 else None


def start_server() -> Postgres:
    """A cluster of the scenario's own; once more if the first start fails (its free port
    taken meanwhile by another scenario's process)."""
    try:
        return Postgres.start()
    except RuntimeError:
        return Postgres.start()


def freeze(server: Postgres, tries: int = 5) -> list[int]:
    """`server.freeze()`, again when a backend ended between being listed and being stopped
    (a reader's connection closing a moment before): that attempt raised with part of the
    server stopped, which is woken before the next."""
    for _ in range(tries - 1):
        try:
            return server.freeze()
        except ProcessLookupError:
            Postgres.thaw(server.pids())
    return server.freeze()


def last_start(log: Path) -> str:
    """The daemon's output since its latest start."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return text[text.rfind("=== start "):]


def book_journal(store: BookUnderTest) -> list[JournalRow]:
    """The journal as the book's readers see it, whichever backend holds it."""
    return [(r["seq"], r["order_id"], r["source"], r["outcome"]) for r in store.journal()]


def counted_journal(store: BookUnderTest, tries: int = 20
                    ) -> tuple[list[JournalRow], dict[str, int]]:
    """The journal and sync_state's outcome counters as of one moment: the counters read
    before and after the journal, until they agree (a batch adds its rows and its counts in
    one transaction, so equal counters mean no batch of rows committed in between)."""
    for _ in range(tries):
        before = {k: int(store.read().state[k]) for k in OUTCOMES}
        rows = book_journal(store)
        if before == {k: int(store.read().state[k]) for k in OUTCOMES}:
            return rows, before
        time.sleep(0.1)
    raise AssertionError(f"the journal kept growing over {tries} reads")


def journal_rows(db: Path) -> list[JournalRow]:
    conn = ro_connect(db)
    try:
        return [(r[0], r[1], r[2], r[3]) for r in conn.execute(
            "SELECT seq, order_id, source, outcome FROM order_events ORDER BY seq")]
    except sqlite3.OperationalError:  # not migrated yet: nothing was committed
        return []
    finally:
        conn.close()


def _waits(daemon: Daemon) -> None:
    assert not daemon.alive() or logged(daemon.log, "standby"), "not waiting yet"


def leaks(daemon: Daemon, secrets: tuple[str, ...] = SECRETS,
          server: Postgres | None = None, rogues: list[Daemon] | None = None) -> int:
    """How many times a secret appears in the output of the daemon and of the mismatched
    trackers, or in its database files (for PostgreSQL every file of the scenario's
    cluster: tables, WAL, the server's log)."""
    blobs = [daemon.log, *(r.log for r in rogues or ())]
    if server is not None:
        blobs += sorted(p for p in server.root.rglob("*") if p.is_file())
    else:
        blobs += [daemon.db.with_name(daemon.db.name + suffix) for suffix in ("", "-wal")]
    count = 0
    for path in blobs:
        if path.exists():
            data = path.read_bytes()
            count += sum(data.count(secret.encode()) for secret in secrets)
    return count


def soak(scenarios: int, seed: int, jobs: int, length: float, keep: bool,
         store: str = "sqlite", venue: str | None = None) -> list[Result]:
    """`venue`: draw each scenario's profile from that venue's only (None: every venue's)."""
    profiles = of_venue(venue)

    def one(index: int) -> Result:
        workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{index}-"))
        try:
            result = Scenario(index, seed + index, workdir, length, store, keep,
                              profiles).run()
        except Exception as exc:  # its ending failed: this scenario's error, not the soak's
            result = Result(index, seed + index, error=f"{type(exc).__name__}: {exc}"[:2000])
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
        "by_profile": dict(Counter(r.profile for r in results)),
        "events_sent": sum(r.events for r in results),
        "faults_injected": dict(sorted(faults.items())),
        "restarts": sum(r.restarts for r in results),
        "divergent_orders": sum(divergent.values()),
        "divergent_by_kind": dict(divergent),
        "journal_rows_lost": sum(r.journal_lost for r in results),
        "journal_rows_doubled": sum(r.journal_doubled for r in results),
        "unexpected_exits": sum(len(r.unexpected_exits) for r in results),
        "unwritable_exits": sum(r.unwritable_exits for r in results),
        "mismatched_admitted": sum(r.mismatched_admitted for r in results),
        "secret_leaks": sum(r.secret_leaks for r in results),
        "log_flood_lines": sum(r.log_flood for r in results),
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
    parser.add_argument("--store", choices=STORES, default="sqlite",
                        help="where the daemon keeps its book: an SQLite file (default), or "
                             "an account of a PostgreSQL database, on a throwaway cluster "
                             "per scenario")
    parser.add_argument("--venue", choices=VENUES, default=None,
                        help="draw every scenario's venue from this one (default: every venue, "
                             "and each venue's modes)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = soak(args.scenarios, args.seed, args.jobs, args.length, args.keep, args.store,
                   args.venue)
    command = " ".join(["python -m bench.chaos", *(sys.argv[1:] if argv is None else argv)])
    summary = {"store": args.store} | totals(results) | {
        "seconds": round(time.monotonic() - started, 1), "command": command}
    print(json.dumps(summary, indent=2))
    return 1 if summary["failed_scenarios"] else 0


if __name__ == "__main__":
    sys.exit(main())
