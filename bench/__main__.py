"""Benchmarks, measured side by side in one run; one JSON object on stdout.

    python -m bench                 # the sizes the targets name (several minutes)
    python -m bench --scale 0.05    # the same at 5% size (the CI smoke run)
    python -m bench --store both    # and the same daemon on PostgreSQL, beside SQLite
    python -m bench --venue binance # the same against Binance's face (default: bitmart)
    python -m bench --venue okx     # the same against OKX's face

ingest    200,000 pushes for 20,000 orders in one burst: the daemon, the physical floor
          (the same frames inflated, parsed and written raw, one process, no checks), the
          pipeline floor (the daemon's own decoding, merge and rows, no sockets), ccxt.pro's
          watch_orders in memory, and a naive peer (one aiosqlite transaction per update)
latency   2,000 pushes/s for 30 s: simulator send to a separate reader seeing the row
seed      100,000 open orders over 20 symbols, page size 100, beside the same page
          requests as bare paced HTTP fetches (the I/O floor)
footprint resident memory after that seed; CPU while idle with keep-alives only
readers   SELECT * FROM open_orders WHERE symbol = ? on that book during the paced load
symbols   50,000 open orders over 300 symbols (one ALL_SYMBOLS topic): start to live and
          peak RSS, v2 then v4; only with --only symbols, as v4's pace makes it about
          2.5 minutes at any scale; each beside its I/O floor
steady    30 minutes (x scale, at least 1) of the simulator's order flow: the daemon's RSS
          and CPU a minute, after the first minute against the end; only with --only steady

With --venue binance the daemon, its floors and its peer speak Binance (bench/venues.py):
the burst is executionReport event frames (text); the physical floor parses them and
writes the exchange's fields, the target at least 0.7 of it (BitMart's 0.5); the peer is
ccxt.pro's binance watch_orders on the face's WebSocket API, current ccxt from the
directory `make clients` fills; the seed reads openOrders unpaginated, beside its
weight-limited floor: the same reads as bare signed GETs within the daemon's weight
budget, the longer of their time and the minutes the budget forces. With --venue okx the
burst is `orders` push frames (text), the physical floor parses them and writes OKX's
fields (target 0.7), the peer is ccxt.pro's okx watch_orders on the face's private
WebSocket, and the seed's floor is its orders-pending pages as bare signed GETs, the
longer of their own time and the 2 s windows OKX's 60 requests in any 2 s force. Latency,
footprint and readers are measured as for BitMart; symbols and steady are BitMart's only.

With --store postgres (or both), a throwaway PostgreSQL 15 cluster, durable as a real one
(fsync, synchronous_commit and full_page_writes on), holds the book of the same daemon
through the same burst, seed and paced load; the latency reader LISTENs on tracker_book.
Its figures go under "postgres", with their ratios to SQLite's ("ingest_vs_sqlite", when
both ran) and to the I/O floor ("seed_vs_floor").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ingest, live, steady, symbols
from bench.common import durable_server, ratio
from bench.venues import VENUES, Venue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="fraction of the named sizes and durations (default 1)")
    parser.add_argument("--only", choices=("ingest", "live", "symbols", "steady"),
                        help="one part only")
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="sqlite",
                        help="the book's backend: SQLite (default), PostgreSQL, or both in "
                             "the same run")
    parser.add_argument("--venue", choices=tuple(VENUES), default="bitmart",
                        help="the venue the daemon, its floors and its peer speak to "
                             "(default bitmart)")
    args = parser.parse_args(argv)
    if args.only in ("symbols", "steady") and args.store != "sqlite":
        parser.error(f"--only {args.only} measures the SQLite book only")
    if args.only in ("symbols", "steady") and args.venue != "bitmart":
        parser.error(f"--only {args.only} measures BitMart only")
    venue = VENUES[args.venue]
    clients = venue.peer.path
    if args.only in (None, "ingest") and clients and not (clients / "ccxt").is_dir():
        parser.error(f"the {venue.name} peer is current ccxt, installed in {clients} by "
                     "`make clients`: run that first")
    on_sqlite, on_postgres = args.store in ("sqlite", "both"), args.store in ("postgres", "both")
    started = time.monotonic()
    figures: dict[str, Any] = {"scale": args.scale, "python": sys.version.split()[0]}
    if args.store != "sqlite":
        figures["store"] = args.store
    if args.venue != "bitmart":
        figures["venue"] = args.venue
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        if on_sqlite:
            if args.only in (None, "ingest"):
                figures["ingest"] = ingest.run(work / "ingest", args.scale, venue)
            if args.only in (None, "live"):
                figures |= live.run(work / "live", args.scale, venue)
            if args.only == "symbols":
                figures["symbols"] = symbols.run(work / "symbols", args.scale)
            if args.only == "steady":
                figures["steady"] = steady.run(work / "steady", args.scale)
        if on_postgres:
            figures["postgres"] = on_postgresql(work, args.scale, args.only, venue, figures)
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures, indent=2))
    return 0


def on_postgresql(work: Path, scale: float, only: str | None, venue: Venue,
                  sqlite: dict[str, Any]) -> dict[str, Any]:
    """The PostgreSQL book's figures, with their ratios to SQLite's measured in `sqlite`
    (this run's figures so far) and the targets: ingest at least half of SQLite's, the seed
    within 1.5 x the I/O floor, a LISTENing reader's p99 within 20 ms."""
    server, settings = durable_server()
    found: dict[str, Any] = {"server": settings}
    targets: dict[str, bool] = {}
    try:
        if only in (None, "ingest"):
            found["ingest"] = ingest.run_postgres(work / "ingest-postgres", scale,
                                                  server.create_database(), venue)
            targets["book_exact"] = found["ingest"]["book_exact"]
            if "ingest" in sqlite:
                found["ingest_vs_sqlite"] = ratio(found["ingest"]["tracker_pushes_per_s"],
                                                  sqlite["ingest"]["tracker_pushes_per_s"])
                targets["ingest_vs_sqlite >= 0.5"] = found["ingest_vs_sqlite"] >= 0.5
        if only in (None, "live"):
            seed = sqlite.get("seed")
            found |= live.run_postgres(work / "live-postgres", scale, server.create_database(),
                                       venue, live.floor_of(seed) if seed else None)
            found["seed_vs_floor"] = found["seed"]["seed_vs_floor"]
            found["latency_p99_ms"] = found["latency"]["p99_ms"]
            targets["seed <= 1.5 x floor"] = found["seed"]["targets_met"]["seed <= 1.5 x floor"]
            targets["latency p99 <= 20 ms"] = found["latency_p99_ms"] <= 20
            targets["latency all seen"] = found["latency"]["seen"] == found["latency"]["sent"]
            if "latency" in sqlite:
                found["sqlite_latency_p99_ms"] = sqlite["latency"]["p99_ms"]
    finally:
        server.stop()
    return found | {"targets_met": targets}


if __name__ == "__main__":
    sys.exit(main())
