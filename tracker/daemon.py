"""`tracker run`: wire config, store, REST and stream together; handle signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import time

import structlog

from tracker import config as config_mod
from tracker import metrics
from tracker.config import Config, ConfigError
from tracker.exchange.rest import RestApi, V2Rest, V4Rest
from tracker.migrate import MigrationError
from tracker.notify import Notifier
from tracker.store import Store
from tracker.sync import Tracker

log = structlog.get_logger("tracker.daemon")


def make_rest(config: Config) -> RestApi:
    common = {"timeout": config.rest_timeout, "retries": config.rest_retries}
    if config.api == "v2":
        return V2Rest(config.rest_url, config.credentials, page_size=config.page_size,
                      rate=config.rest_rate, max_passes=config.seed_passes, **common)
    return V4Rest(config.rest_url, config.credentials, since_ms=config.v4_since_ms,
                  page_size=config.page_size, **common)


async def open_store(config: Config) -> Store:
    """The book, or one line naming the `db` setting when the path cannot hold one."""
    try:
        return await Store.open(config.db, config.journal_keep_days)
    except sqlite3.OperationalError:
        raise  # locked or busy: it may pass, so a restart may help
    except (OSError, sqlite3.DatabaseError, MigrationError) as exc:
        raise ConfigError(f"db: cannot use {config.db} as the book: {exc}") from None


async def run(config: Config) -> int:
    notifier = Notifier()
    store = await open_store(config)
    rest = make_rest(config)
    tracker = Tracker(config, store, rest)
    watchdog: asyncio.Task[None] | None = None
    try:
        await tracker.load()
        loop = asyncio.get_running_loop()

        def stop() -> None:
            notifier.stopping()
            tracker.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        loop.add_signal_handler(signal.SIGHUP, reload, notifier, tracker)
        tracker.listeners.append(lambda status: notifier.status(status.text))
        if config.metrics_port:
            metrics.serve(tracker, config.metrics_port)
        # Ready once the config is loaded and the book is open, not after the first seed:
        # an exchange outage at boot must not become a start timeout and a restart loop.
        notifier.ready("connecting")
        if notifier.watchdog_interval:
            watchdog = asyncio.create_task(feed_watchdog(notifier, tracker))
        log.info("tracker_started", api=config.api, db=str(config.db),
                 symbols="*" if config.all_symbols else ",".join(config.symbols or ()),
                 open_orders=tracker.book.open_count(), metrics_port=config.metrics_port)
        await tracker.run()
        log.info("tracker_stopped", open_orders=tracker.book.open_count())
        return 0
    finally:
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        await rest.aclose()
        await store.close()


async def feed_watchdog(notifier: Notifier, tracker: Tracker) -> None:
    """WATCHDOG=1 only while the daemon itself is healthy: this loop runs (so the event loop
    answers) and the writer committed recently (it commits at least every second). Whether
    the exchange is reachable does not matter here; that is what STATUS and `live` say."""
    interval = notifier.watchdog_interval or 1.0
    while True:
        if time.monotonic() - tracker.store.committed_at < max(3 * interval, 5.0):
            notifier.watchdog()
        else:
            log.error("writer_stalled", seconds=round(time.monotonic()
                                                      - tracker.store.committed_at, 1))
        await asyncio.sleep(interval)


def reload(notifier: Notifier, tracker: Tracker) -> None:
    """SIGHUP: re-read what is safe to change while running (the log level). Credentials,
    URLs and symbols change with a restart."""
    notifier.reloading()
    try:
        fresh = config_mod.load(None, os.environ, {})
    except ConfigError as exc:
        log.error("reload_refused", error=str(exc))
    else:
        logging.getLogger().setLevel(fresh.log_level.upper())
        log.info("reloaded", log_level=fresh.log_level)
    notifier.ready(tracker.status.text)
