"""`tracker run`: wire config, store, REST and stream together; handle signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

import structlog

from tracker import identity, metrics, readers
from tracker.backends import Backend
from tracker.config import Config, ConfigError
from tracker.migrate import StartupError
from tracker.notify import Notifier
from tracker.storage import BookStore
from tracker.sync import STALE_AFTER_SECONDS, Tracker
from tracker.venue import Rest

log = structlog.get_logger("tracker.daemon")
SWITCH_INTERVAL_S = 0.0005


async def run(config: Config, backend: Backend, reread: Callable[[], Config]) -> int:
    """Until SIGTERM: 0 after a clean stop, 74 when the stop could not write everything or
    the book was deleted or replaced. A start that cannot happen raises StartupError.
    `backend` keeps the book `config.db` names; `reread` loads the configuration again from
    the sources this start read (SIGHUP).

    On PostgreSQL a tracker whose account is written by another waits as its hot standby,
    and one that loses the account to another (cut off from the database while a standby
    took over) becomes the standby again: each turn as the writer starts afresh from the
    book as the database holds it."""
    # The writer thread takes the interpreter lock back after each SQLite call; while the
    # event loop runs Python it would wait out the whole switch interval (5 ms by default),
    # which was the latency's tail. A shorter interval hands the lock over sooner.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    notifier = Notifier()
    # One REST client for the process: a writer that becomes the standby again keeps what
    # its venue grants sparingly (BitMart's v2 tokens, five a minute) for its next turn.
    rest = config.adapter.rest(config)
    try:
        while True:
            code = await _term(config, backend, reread, notifier, rest)
            if code is not None:
                return code
    finally:
        await rest.aclose()


async def _term(config: Config, backend: Backend, reread: Callable[[], Config],
                notifier: Notifier, rest: Rest) -> int | None:
    """One turn as the book's writer: its exit code, or None to wait as standby again."""
    store = await _open_or_stop(config, backend, notifier)
    if store is None:
        return 0  # stopped while waiting as the standby
    tracker = Tracker(config, store, rest)
    watchdog: asyncio.Task[None] | None = None
    close_metrics: Callable[[], None] | None = None
    try:
        if config.metrics_port:
            # Before the first commit: a start that fails here must leave the book saying
            # what the last run left, not "starting" with a fresh heartbeat.
            close_metrics = serve_metrics(tracker, config.metrics_port)
        await first_write(tracker, backend)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            notifier.stopping()
            tracker.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        loop.add_signal_handler(signal.SIGHUP, reload, notifier, tracker, reread)
        tracker.listeners.append(lambda status: notifier.status(status.text))
        # Ready once the config is loaded and the book is open, not after the first seed:
        # an exchange outage at boot must not become a start timeout and a restart loop.
        notifier.ready("connecting")
        watchdog = asyncio.create_task(watch_writer(notifier, tracker), name="watch-writer")
        log.info("tracker_started", venue=config.venue,
                 api=config.adapter.state_label(config.venue_settings), db=backend.shown,
                 symbols="*" if config.all_symbols else ",".join(config.symbols or ()),
                 open_orders=tracker.book.open_count(), metrics_port=config.metrics_port,
                 role="active")
        running = asyncio.create_task(tracker.run(), name="tracker")
        replaced = asyncio.create_task(store.replaced.wait(), name="book-watch")
        await asyncio.wait([running, replaced], return_when=asyncio.FIRST_COMPLETED)
        replaced.cancel()
        if store.lost is not None:
            # Not one more write (no "stopped" either: that would go to the wrong file).
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            if store.refused is not None:
                raise store.refused
            if backend.standbys and tracker.stop_deadline is None:
                log.warning("standby_again", account=config.account, reason=store.lost)
                return None
            # Exit non-zero so the supervisor starts again on the file now at the path.
            return os.EX_IOERR
        running.result()
        if tracker.unwritten:
            log.error("tracker_stopped", open_orders=tracker.book.open_count(),
                      unwritten=tracker.unwritten)
            return os.EX_IOERR
        log.info("tracker_stopped", open_orders=tracker.book.open_count())
        return 0
    finally:
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        if close_metrics is not None:
            close_metrics()
        await store.close()


async def _open_or_stop(config: Config, backend: Backend,
                        notifier: Notifier) -> BookStore | None:
    """The book opened for writing, or None when SIGTERM or SIGINT came first: a standby
    waits for its account's claim as long as the active tracker lives, a start for a server
    out of reach until it answers, and a stop ends either wait at once."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    waiting: list[str] = []
    close_metrics: list[Callable[[], None]] = []

    def standby(holder: str) -> None:
        if not waiting:
            refuse_a_stranger(config, backend)
        waiting.append(holder)
        log.warning("standby", account=config.account, active=holder,
                    effect="takes over when the active tracker's connection ends")
        notifier.ready(f"standby, active is {holder}")
        if config.metrics_port and not close_metrics:
            try:
                close_metrics.append(metrics.serve_standby(config.metrics_port))
            except OSError as exc:
                log.error("metrics_unavailable", port=config.metrics_port, error=exc.strerror)

    waiting_db: list[str] = []

    def unreachable(why: str | None) -> None:
        # READY all the same: systemd would otherwise end a start that waits for the server
        # (TimeoutStartSec) and, restart after restart, give up on it (StartLimitBurst).
        waiting_db[:] = [why] if why else []
        notifier.ready(f"NOT LIVE: waiting for the database: unreachable ({why})" if why
                       else "connecting")

    opening = asyncio.create_task(backend.open_store(config, standby, unreachable),
                                  name="open-book")
    stopping = asyncio.create_task(stopped.wait(), name="stop-while-opening")
    try:
        while not opening.done() and not stopping.done():
            await asyncio.wait([opening, stopping], timeout=1.0,
                               return_when=asyncio.FIRST_COMPLETED)
            if (waiting or waiting_db) and not opening.done():
                notifier.watchdog()  # healthy while it waits: a restart would not help
    finally:
        stopping.cancel()
        for close in close_metrics:  # the active's own figures take the port over
            close()
    if opening.done():
        store = opening.result()
        if waiting:
            log.warning("took_over", account=config.account, previous=waiting[-1])
        return store
    opening.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await opening
    notifier.stopping()
    log.info("tracker_stopped", role="standby")
    return None


async def first_write(tracker: Tracker, backend: Backend) -> None:
    """The first full read and the first write: a book that fails them cannot be used, and
    neither can one of another exchange account or of symbols this tracker would leave
    uncovered (refused before anything is written, exit 78: starting again cannot help)."""
    try:
        await tracker.load()
    except identity.Mismatch as exc:
        raise mismatched(tracker.config, backend, exc) from None
    except Exception as exc:
        refused = backend.unusable(exc)
        if refused is None:
            raise
        raise refused from None


def mismatched(config: Config, backend: Backend, exc: identity.Mismatch) -> StartupError:
    """The refusal's one line, naming the book (and the account, in a shared database)."""
    account = f"account {config.account} in " if config.account else ""
    return StartupError(os.EX_CONFIG, f"db: {account}{backend.shown}: {exc}")


def refuse_a_stranger(config: Config, backend: Backend) -> None:
    """A standby about to wait compares itself with the identity the book records now, so
    that one with another account's keys or fewer symbols is told at once, not at the
    failover it was there for. The check at the claim (`first_write`) is the one that
    counts: it also sees the open orders' symbols, and whatever was recorded meanwhile.
    A book that cannot be read here is left to it. One short read on the reader's own
    connection, blocking: nothing else runs yet while a standby starts to wait."""
    try:
        state = backend.reader(None, os.environ, config.account or None).status()
    except readers.Unavailable:
        return
    try:
        identity.judge(state, config.identity, (), config.consent)
    except identity.Mismatch as exc:
        raise mismatched(config, backend, exc) from None


async def watch_writer(notifier: Notifier, tracker: Tracker) -> None:
    """WATCHDOG=1 only while the daemon itself is healthy: this loop runs (so the event loop
    answers) and the writer committed recently (it commits at least every second). Whether
    the exchange is reachable does not matter here; that is what STATUS and `live` say.

    While nothing can be written, the status listeners hear nothing (they hear of commits),
    so this loop is what tells systemd's STATUS= and the log that the book is not current."""
    interval = notifier.watchdog_interval
    stalled_since: float | None = None
    while True:
        idle = time.monotonic() - tracker.store.committed_at
        # Why the server is out of reach, while it is (None for a file, which never is).
        unreachable = tracker.store.not_writable_detail
        if idle >= STALE_AFTER_SECONDS:
            if stalled_since is None:
                stalled_since = tracker.store.committed_at
                log.error("writer_stalled", seconds=round(idle, 1))
            what = f"unreachable ({unreachable})" if unreachable else "unwritable"
            notifier.status(f"NOT LIVE: database {what}: nothing written for {idle:.0f} s")
        elif stalled_since is not None:
            log.warning("writer_recovered", stalled_s=round(time.monotonic() - stalled_since, 1))
            stalled_since = None
        # A database server out of reach is not the daemon's fault, and a restart would not
        # bring it back: the writer reconnects by itself meanwhile.
        if interval and (idle < max(3 * interval, 5.0) or unreachable):
            notifier.watchdog()
        await asyncio.sleep(min(interval or 1.0, 1.0))


def serve_metrics(tracker: Tracker, port: int) -> Callable[[], None]:
    try:
        return metrics.serve(tracker.health, port, tracker.store.commit_seconds)
    except OSError as exc:
        raise StartupError(os.EX_UNAVAILABLE, f"metrics_port: cannot listen on 127.0.0.1:"
                                              f"{port}: {exc.strerror}") from None


def reload(notifier: Notifier, tracker: Tracker, reread: Callable[[], Config]) -> None:
    """SIGHUP: re-read what is safe to change while running (the log level), from the
    sources the start read (the same --config file and flags, and the environment).
    Credentials, URLs and symbols change with a restart."""
    notifier.reloading()
    try:
        fresh = reread()
    except ConfigError as exc:
        log.error("reload_refused", error=str(exc))
    else:
        logging.getLogger().setLevel(fresh.log_level.upper())
        log.info("reloaded", log_level=fresh.log_level)
    notifier.ready(tracker.status.text)
