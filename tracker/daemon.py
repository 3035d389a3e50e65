"""`tracker run`: wire config, store, REST and stream together; handle signals."""

from __future__ import annotations

import asyncio
import signal
import sqlite3

import structlog

from tracker.config import Config, ConfigError
from tracker.exchange.rest import RestApi, V2Rest, V4Rest
from tracker.migrate import MigrationError
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
        return await Store.open(config.db)
    except sqlite3.OperationalError:
        raise  # locked or busy: it may pass, so a restart may help
    except (OSError, sqlite3.DatabaseError, MigrationError) as exc:
        raise ConfigError(f"db: cannot use {config.db} as the book: {exc}") from None


async def run(config: Config) -> int:
    store = await open_store(config)
    rest = make_rest(config)
    tracker = Tracker(config, store, rest)
    try:
        await tracker.load()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, tracker.stop)
        log.info("tracker_started", api=config.api, db=str(config.db),
                 symbols="*" if config.all_symbols else ",".join(config.symbols or ()),
                 open_orders=tracker.book.open_count())
        await tracker.run()
        log.info("tracker_stopped", open_orders=tracker.book.open_count())
        return 0
    finally:
        await rest.aclose()
        await store.close()
