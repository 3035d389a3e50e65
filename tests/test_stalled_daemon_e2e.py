"""A daemon stopped with SIGSTOP past the heartbeat's 15 s (issue 30, item 7): it still
holds the book (PostgreSQL: the account's lock, which `tracker status` lists as active;
SQLite: the flock on `<db>.seq`), so readers call it stalled, in the verdict, the daemon row
and the listing alike, never "the daemon is not running" beside a listing that names it
active. A real daemon against the simulator, on either backend."""

from __future__ import annotations

import signal
import subprocess
import time

from harness import TRACKER, Lab, clean_env
from harness.books import BookUnderTest, PostgresBook
from harness.postgres import client_env


def tracker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRACKER, *args], capture_output=True, text=True, timeout=60,
                          env=client_env(clean_env()) | (env or {}))


def test_a_stopped_daemon_that_holds_the_book_is_stalled_in_every_word(
        lab: Lab, store: BookUnderTest) -> None:
    postgres = isinstance(store, PostgresBook)
    sim = lab.sim("--open-orders", "5", "--seed", "5")
    daemon = lab.daemon(sim, store=store).start()
    daemon.wait_live()
    code, before = daemon.status()
    assert code == 0, before
    daemon.signal(signal.SIGSTOP)
    try:
        time.sleep(16.5)
        done = tracker("status", *store.reader_args(), env=store.reader_env())
        head, *rows = done.stdout.splitlines()
        assert done.returncode == 1, done.stdout
        what = "account" if postgres else "book"
        assert head.startswith(f"NOT LIVE: a tracker holds the {what} but has not written "
                               "for 1"), head
        assert head.endswith(": stalled (stopped, frozen or unable to write)"), head
        assert any(r.startswith(f"  daemon       stalled, pid {daemon.pid}, last commit ")
                   for r in rows), rows
        if postgres:
            assert any(r.startswith(f"  active       tracker acct1 pid {daemon.pid} on ")
                       for r in rows), rows
        assert "not running" not in done.stdout
        assert before["held"] is True, before
        if postgres:
            (active,) = before["trackers"]
            assert active["writing_since"] == before["started_at"], before  # began at start
        code, state = daemon.status()
        assert code == 1 and state["running"] is True and state["stalled"] is True
        assert state["held"] is True and state["live"] is False
        assert state["heartbeat_age_ms"] > 15_000
        health = tracker("healthcheck", *store.reader_args(), env=store.reader_env())
        assert health.returncode == 1 and "stalled" in health.stdout
    finally:
        daemon.signal(signal.SIGCONT)
    daemon.wait_live()
    daemon.signal(signal.SIGKILL)
    daemon.wait(10)
    code, state = daemon.status()
    assert state["held"] is False, state  # the lock went with the process
