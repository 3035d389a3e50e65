"""The daemon as a subprocess (`tracker run` against a simulator), restartable on the same
book, with short timings so that reconnects and resolutions happen within a run's patience."""

from __future__ import annotations

import json
import resource
import subprocess
from pathlib import Path
from typing import Any

from harness.books import BookUnderTest, SqliteBook
from harness.processes import TRACKER, clean_env, stop_process, tail
from harness.profiles import BITMART_V2, Profile
from harness.sim import SYMBOLS, Sim
from harness.truth import BookView, differences
from harness.waiting import eventually
from simulator.state import DEMO_ACCOUNT

CREDENTIALS = BITMART_V2.keys(DEMO_ACCOUNT)  # the demo account's, as the README sets them
# Short timings, so that reconnects and resolutions happen within a test's patience.
FAST = {"TRACKER_GRACE_PERIOD": "0.3", "TRACKER_BACKOFF_MAX": "1",
        "TRACKER_PING_INTERVAL": "2", "TRACKER_SILENCE_TIMEOUT": "5",
        "TRACKER_RECONCILE_INTERVAL": "0", "TRACKER_PAGE_SIZE": "100",
        "TRACKER_LOG_FORMAT": "json"}


class Daemon:
    """`tracker run` against a simulator; restartable on the same book."""

    def __init__(self, workdir: Path, sim: Sim, *, profile: Profile = BITMART_V2,
                 db: Path | None = None, store: BookUnderTest | None = None,
                 env: dict[str, str] | None = None, name: str = "daemon",
                 nofile: int | None = None, args: tuple[str, ...] = ()) -> None:
        """The book is `store` where given (either backend), else the SQLite file `db`;
        `env` may name another simulator account's credentials; `nofile` is the daemon's
        soft limit on open descriptors (RLIMIT_NOFILE), where given; `args` are `tracker
        run`'s flags beyond the settings (`--drop-symbols`)."""
        self.db = db or workdir / "book.db"
        self.store: BookUnderTest = store or SqliteBook(self.db)
        self.log = workdir / f"{name}.err"
        self.profile = profile
        self.env = clean_env() | profile.env(DEMO_ACCOUNT) | FAST | {
            "TRACKER_SYMBOLS": ",".join(profile.symbols(SYMBOLS)),
            "TRACKER_REST_URL": sim.rest_url,
            "TRACKER_WS_URL": sim.urls[profile.ws_key]} | self.store.env() | (env or {})
        self.nofile = nofile
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Daemon:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with self.log.open("ab") as err:
            err.write(f"=== start {self.starts} ===\n".encode())
            err.flush()
            self.proc = subprocess.Popen([*TRACKER, "run", *self.args], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err, env=self.env,
                                         preexec_fn=None if self.nofile is None
                                         else self._limit)
        return self

    def _limit(self) -> None:
        """In the child, before it runs the daemon."""
        assert self.nofile is not None
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, hard))

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
        return self.store.read()

    def journal(self, order_id: str | None = None) -> list[dict[str, Any]]:
        return self.store.journal(order_id)

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
            truth = self.profile.keyed(sim.truth())
            book = self.book()
            problems = differences(book, truth, self.profile.symbols(SYMBOLS))
            assert not problems, f"{len(problems)} differences: {'; '.join(problems[:8])}"
            return book

        return eventually(converged, timeout, "the book equals the truth", interval=0.2,
                          context=self.tail)

    def book_id(self, symbol: str, order_id: str) -> str:
        """The book's id of a simulator order (`symbol` as the simulator writes it)."""
        return self.profile.book_id(symbol, order_id)

    def status(self) -> tuple[int, dict[str, Any]]:
        done = subprocess.run([*TRACKER, "status", "--json", *self.store.reader_args()],
                              capture_output=True, text=True, timeout=30,
                              env=clean_env() | self.store.reader_env())
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
