"""Ingest: one burst of pushes taken in by the daemon, beside two floors and two peers.

- the physical floor: what any client keeping this book must do per push (inflate where the
  venue compresses, parse, one journal row and one upsert of the exchange's own fields)
  and nothing more: no validation, no merge, one process, 1,000 pushes a transaction,
  written as the daemon writes rows, many to a statement (the cheapest way we know);
- the pipeline floor: the daemon's own decoder, codec, merge and writes for the venue, in
  one process, no sockets;
- a real peer: ccxt.pro's `watch_orders` for the venue, in memory only (bench/peer.py);
- a naive peer: parse, then one aiosqlite transaction per update.

All take the very same frames: the simulator plans them from (orders, pushes, start_ms)
and the venue's face spells them for the daemon and for ccxt.pro, and the floors and the
naive peer make them again here with the same functions and arguments (bench/venues.py
says, per venue, which). With a PostgreSQL book the daemon takes the same
burst (`run_postgres`), and its figure is set beside the SQLite daemon's.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite

from bench import peer
from bench.common import ACCOUNT, BURST_SYMBOL, Probe, ratio
from bench.venues import BITMART, Venue
from harness import Daemon, Sim
from harness.books import BookUnderTest as BookStore
from harness.books import PostgresBook
from harness.postgres import Database
from simulator import burst
from simulator.state import DEMO_ACCOUNT
from tracker.batch import Batch
from tracker.book import Book
from tracker.codec import OrderUpdate
from tracker.config import load
from tracker.frames import Frame, OrderPush
from tracker.sqlite import store as sqlite_store
from tracker.sqlite.store import connect_migrated, order_params, write_rows
from tracker.venue import Codec

ORDERS, PUSHES = 20_000, 200_000
FLOOR_TRANSACTION = 1000  # frames per transaction in the floor: its own best batching


def sizes(scale: float) -> tuple[int, int]:
    """The burst's orders and pushes at `scale`."""
    return max(int(ORDERS * scale), 10), max(int(PUSHES * scale), 100)


def run(work: Path, scale: float, venue: Venue = BITMART) -> dict[str, Any]:
    work.mkdir(parents=True)
    orders, pushes = sizes(scale)
    start_ms = int(time.time() * 1000)
    figures = through_daemon(work, venue, orders, pushes, start_ms)
    frames = [venue.frame(push)
              for push in burst.burst_pushes(orders, pushes, BURST_SYMBOL, start_ms)]
    physical_s = physical_floor(work / "physical.db", venue, frames)
    decode, codec = pipeline(venue)
    floor_s = floor(work / "floor.db", frames, decode, codec)
    sample = frames[:min(len(frames), max(2_000, len(frames) // 10))]
    naive_s = asyncio.run(naive(work / "naive.db", venue, sample, codec))
    ccxt = peer.run(work, venue, orders, pushes, start_ms)
    tracker_rate = len(frames) / figures["tracker_s"]
    physical_rate = len(frames) / physical_s
    floor_rate, naive_rate = len(frames) / floor_s, len(sample) / naive_s
    target = venue.physical_target
    return figures | ccxt | {
        "physical_floor_pushes_per_s": round(physical_rate),
        "floor_s": round(floor_s, 3), "floor_pushes_per_s": round(floor_rate),
        "naive_pushes_per_s": round(naive_rate), "naive_sample": len(sample),
        "tracker_pushes_per_s": round(tracker_rate),
        "tracker_vs_physical_floor": ratio(tracker_rate, physical_rate),
        "tracker_vs_floor": ratio(tracker_rate, floor_rate),
        "tracker_vs_peer": ratio(tracker_rate, ccxt["peer_pushes_per_s"]),
        "tracker_vs_naive": ratio(tracker_rate, naive_rate),
        "targets_met": {"book_exact": figures["book_exact"],
                        "peer_exact": ccxt["peer_exact"],
                        f"tracker_vs_physical_floor >= {target:g}":
                            tracker_rate >= target * physical_rate,
                        "tracker_vs_peer >= 1.0": tracker_rate >= ccxt["peer_pushes_per_s"]}}


def run_postgres(work: Path, scale: float, database: Database,
                 venue: Venue = BITMART) -> dict[str, Any]:
    """The same burst into an account of a PostgreSQL database: the daemon's figure alone
    (the floor and the naive peer are SQLite's, measured by `run`)."""
    work.mkdir(parents=True)
    orders, pushes = sizes(scale)
    figures = through_daemon(work, venue, orders, pushes, int(time.time() * 1000),
                             PostgresBook(database, ACCOUNT))
    return figures | {"tracker_pushes_per_s": round(figures["pushes"] / figures["tracker_s"])}


def through_daemon(work: Path, venue: Venue, orders: int, pushes: int, start_ms: int,
                   store: BookStore | None = None) -> dict[str, Any]:
    """Time from the simulator's first send to the book holding the last order's last
    state (pushes are applied in order, so everything before it is in too)."""
    sim = Sim(work, "--symbols", BURST_SYMBOL)
    symbol = venue.profile.symbol(BURST_SYMBOL)
    # The queue holds the whole burst: past `queue_max` the daemon sheds pushes and splices
    # again (right for a stalled writer), and the last order's state would then come from
    # the re-read, not from taking in every push, which is what this figure measures.
    daemon = Daemon(work, sim, profile=venue.profile, store=store,
                    env={"TRACKER_SYMBOLS": symbol, "TRACKER_LOG_LEVEL": "warning",
                         "TRACKER_QUEUE_MAX": str(2 * pushes + 1000)})
    try:
        daemon.start()
        daemon.wait_live(60)
        probe = Probe(daemon.store)
        try:
            before = probe.one("SELECT COALESCE(MAX(seq), 0) FROM order_events WHERE seq > ?",
                               0)
            answer = sim.http.post("/load/burst", timeout=600, json={
                "orders": orders, "pushes": pushes, "start_ms": start_ms}).json()
            last = daemon.book_id(BURST_SYMBOL, answer["last_order_id"])
            first = daemon.book_id(BURST_SYMBOL, str(burst.BASE_ID))  # the burst's ids and up

            def done() -> bool:
                return probe.one("SELECT state FROM orders WHERE order_id = ?",
                                 last) == "filled"

            # One journal row a push: the last push's commit announces at least this seq.
            seen_ns = probe.until(done, timeout=900, seq=before + pushes)
            filled = probe.one("SELECT COUNT(*) FROM orders WHERE order_id >= ? "
                               "AND state = 'filled'", first)
            applied = probe.one("SELECT COUNT(*) FROM order_events WHERE order_id >= ? "
                                "AND outcome = 'applied'", first)
        finally:
            probe.close()
        load = sim.http.get("/load").json()
        return {"orders": orders, "pushes": load["frames"],
                "tracker_s": round((seen_ns - load["started_ns"]) / 1e9, 3),
                "sim_send_s": round((load["finished_ns"] - load["started_ns"]) / 1e9, 3),
                "book_exact": filled == orders and applied == load["frames"]}
    finally:
        daemon.close()
        sim.close()


def physical_floor(db: Path, venue: Venue, frames: list[str | bytes]) -> float:
    """Read each frame as any client must (inflate where compressed, `json.loads`), and
    per push one journal row and one upsert of the exchange's own strings into the same
    tables (and indexes), in large transactions; nothing checked, nothing merged, nothing
    converted but the times."""
    connect_migrated(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    seq = 0
    started = time.perf_counter()
    for first in range(0, len(frames), FLOOR_TRANSACTION):
        events, orders = [], []
        now = int(time.time() * 1000)
        for item in frames[first:first + FLOOR_TRANSACTION]:
            for e in venue.orders(item):
                seq += 1
                event, order = venue.rows(e, seq, now)
                events.append(event)
                orders.append(order)
        conn.execute("BEGIN IMMEDIATE")
        write_rows(conn, sqlite_store.EVENTS, events)
        write_rows(conn, sqlite_store.ORDERS, orders)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


Decode = Callable[[str | bytes], Frame]


def pipeline(venue: Venue) -> tuple[Decode, Codec]:
    """The daemon's own frame decoder and codec for `venue`, made as the daemon makes them
    from its settings; every symbol wanted, so that nothing is filtered."""
    env = venue.profile.env(DEMO_ACCOUNT) | {
        "TRACKER_SYMBOLS": venue.profile.symbol(BURST_SYMBOL),
        "TRACKER_REST_URL": "http://127.0.0.1:9", "TRACKER_WS_URL": "ws://127.0.0.1:9"}
    config = load(None, env, {})
    adapter = config.adapter
    return adapter.channel(config, None).decode, adapter.codec(config.venue_settings)


def floor(db: Path, frames: list[str | bytes], decode: Decode, codec: Codec) -> float:
    """The pipeline floor: the daemon's own frame decoder, codec, merge and rows, with
    nothing in between, in large transactions, synchronously."""
    connect_migrated(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    book = Book()
    seq = 0
    started = time.perf_counter()
    for first in range(0, len(frames), FLOOR_TRANSACTION):
        batch = Batch()
        for item in frames[first:first + FLOOR_TRANSACTION]:
            pushed = decode(item)
            assert isinstance(pushed, OrderPush), pushed
            for element in pushed.data:
                update = (element if isinstance(element, OrderUpdate)
                          else codec.push_element(element))
                seq += 1
                outcome, row = book.apply(update)
                batch.journal(seq, 1, "push", outcome, update)
                batch.order(row, seq, False)
        conn.execute("BEGIN IMMEDIATE")
        write_rows(conn, sqlite_store.EVENTS, batch.events)
        write_rows(conn, sqlite_store.ORDERS, order_params(batch))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def naive(db: Path, venue: Venue, frames: list[str | bytes], codec: Codec) -> float:
    """What a straightforward client does: parse a push, upsert the order, commit."""
    connect_migrated(db)
    async with aiosqlite.connect(db) as conn:
        await conn.execute("PRAGMA synchronous=NORMAL")
        book = Book()
        started = time.perf_counter()
        for n, item in enumerate(frames, 1):
            for element in venue.orders(item):
                _, row = book.apply(codec.push_element(element))
                batch = Batch()
                batch.order(row, n, False)
                await conn.execute(sqlite_store.ORDERS.of(1), next(order_params(batch)))
                await conn.commit()
        return time.perf_counter() - started
