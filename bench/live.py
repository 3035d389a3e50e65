"""Seed, footprint, latency and readers, on one daemon holding 100,000 open orders.

The seed is timed from the daemon's own log (splice_start to book_live) and compared with
its venue's floor (bench/floors.py): the requests that seed needs as bare fetches, paced
as the venue allows, with nothing done with the answers. Latency runs from the simulator's
send (its clock) to a separate reader process seeing the journal row (the same transaction
as the order's row).

On a PostgreSQL book (`run_postgres`) the seed is the same, against the same floor, and the
reader is the change feed's: it LISTENs on `tracker_book` and, woken for its account, reads
the journal rows past the last seq it saw, as `tracker watch` does; on SQLite the reader is
woken the same way, by the daemon's feed socket (`<db>.feed`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import ACCOUNT, percentiles, ratio
from bench.venues import BITMART, Venue
from harness import BookView, Daemon, Sim, clean_env, logged
from harness.books import BookUnderTest, PostgresBook, SqliteBook
from harness.postgres import Database, client_env

BOOK, SYMBOLS = 100_000, 20
PACE_RATE, PACE_SECONDS = 2000.0, 30.0
IDLE_SECONDS = 10.0

# The SQLite reader the README recommends: the rows past `last`, read when the daemon's
# change feed (`<db>.feed`) announces a commit, through tracker.readers.Wakeup; it sleeps
# otherwise, taking no CPU from the daemon between commits.
TAIL = r"""
import json, sqlite3, sys, time
from pathlib import Path
from urllib.parse import quote
from tracker.readers import Wakeup
db, seconds = sys.argv[1], float(sys.argv[2])
conn = sqlite3.connect(f"file:{quote(db)}?mode=ro", uri=True, timeout=5, isolation_level=None)
wakeup = Wakeup(Path(db))
last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM order_events").fetchone()[0]
seen = {}
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    rows = conn.execute("SELECT seq, order_id FROM order_events WHERE seq > ? ORDER BY seq",
                        (last,)).fetchall()
    now = time.time_ns()
    for seq, oid in rows:
        seen.setdefault(oid, now)
    if rows:
        last = rows[-1][0]
    else:
        wakeup.wait(min(1.0, max(end - time.monotonic(), 0)))
print(json.dumps(seen))
"""

# The change feed's reader: the account's rows past `last`, read when a notification says
# its account committed (a notification carries the account and its highest seq). The
# password comes in PGPASSWORD, as libpq reads it, not on the command line.
LISTEN_TAIL = r"""
import json, sys, time
import psycopg
url, account, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
conn = psycopg.connect(url, autocommit=True)
conn.execute("LISTEN tracker_book")
read = "SELECT seq, order_id FROM order_events WHERE account = %s AND seq > %s ORDER BY seq"
last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM order_events WHERE account = %s",
                    (account,)).fetchone()[0]
seen = {}
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    woken = False
    for note in conn.notifies(timeout=max(end - time.monotonic(), 0), stop_after=1):
        said = json.loads(note.payload)
        woken = woken or (said["account"] == account and said["seq"] > last)
    if not woken:
        continue
    rows = conn.execute(read, (account, last)).fetchall()
    now = time.time_ns()
    for seq, oid in rows:
        seen.setdefault(oid, now)
    if rows:
        last = rows[-1][0]
print(json.dumps(seen))
"""

# Queries in turn, each timed: argv after the symbol is a JSON list of statements.
QUERY = r"""
import json, sqlite3, sys, time
from urllib.parse import quote
db, seconds, symbol, sqls = sys.argv[1], float(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
conn = sqlite3.connect(f"file:{quote(db)}?mode=ro", uri=True, timeout=5, isolation_level=None)
ms, rows = [[] for _ in sqls], [0 for _ in sqls]
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    for i, sql in enumerate(sqls):
        t0 = time.perf_counter()
        rows[i] = len(conn.execute(sql, (symbol,)).fetchall())
        ms[i].append((time.perf_counter() - t0) * 1000)
        time.sleep(0.001)
print(json.dumps({"ms": ms, "rows": rows}))
"""


def start(work: Path, scale: float, venue: Venue, store: BookUnderTest | None = None
          ) -> tuple[Sim, Daemon, list[str], int]:
    """The seeded exchange and a daemon of `venue` for it (not started yet); its symbols,
    as the venue writes them, and how many open orders each holds."""
    work.mkdir(parents=True)
    names = [f"B{n:02d}_USDT" for n in range(SYMBOLS)]
    symbols = list(venue.profile.symbols(names))
    per_symbol = max(int(BOOK * scale) // SYMBOLS, 5)
    sim = Sim(work, "--symbols", ",".join(names), "--open-orders", str(per_symbol),
              "--rate", "0", "--seed", "3", ready_timeout=600)
    daemon = Daemon(work, sim, profile=venue.profile, store=store,
                    env={"TRACKER_SYMBOLS": ",".join(symbols), **venue.seed_env,
                         "TRACKER_LOG_LEVEL": "info", "TRACKER_PING_INTERVAL": "10",
                         "TRACKER_SILENCE_TIMEOUT": "30"})
    return sim, daemon, symbols, per_symbol


def seeded(sim: Sim, daemon: Daemon) -> tuple[BookView, float, int]:
    """Start the daemon and wait for its first splice: the book, the seed's seconds and
    the REST requests it took."""
    requests_before = sim.counter("rest_requests")
    daemon.start()
    book = daemon.wait_live(timeout=1800)
    return book, seed_seconds(daemon.log), sim.counter("rest_requests") - requests_before


# A seed's floor: the daemon's REST requests, the floor's seconds, and what it was made of.
Floor = tuple[int, float, dict[str, Any]]
# What `seed_figures` says of every seed; the rest of a seed's figures describe its floor.
SEED_KEYS = ("open_orders", "symbols", "requests", "seed_s", "io_floor_s", "seed_vs_floor",
             "targets_met")


def seed_floor(sim: Sim, daemon: Daemon, venue: Venue, symbols: list[str], per_symbol: int,
               requests: int) -> Floor:
    floor_s, described = asyncio.run(venue.seed_floor(sim.rest_url, symbols, per_symbol,
                                                      requests, daemon.env))
    return requests, floor_s, described


def floor_of(seed: dict[str, Any]) -> Floor:
    """The floor a seed's figures were set beside."""
    return seed["requests"], seed["io_floor_s"], {
        k: v for k, v in seed.items() if k not in SEED_KEYS}


def seed_figures(book: BookView, seed_s: float, floor: Floor) -> dict[str, Any]:
    requests, floor_s, described = floor
    return {"open_orders": book.state["last_seed_orders"], "symbols": SYMBOLS,
            **described, "requests": requests, "seed_s": round(seed_s, 2),
            "io_floor_s": round(floor_s, 2),
            "seed_vs_floor": ratio(seed_s, floor_s),
            "targets_met": {"seed <= 1.5 x floor": seed_s <= 1.5 * floor_s}}


def run(work: Path, scale: float, venue: Venue = BITMART) -> dict[str, Any]:
    sim, daemon, symbols, per_symbol = start(work, scale, venue)
    try:
        book, seed_s, requests = seeded(sim, daemon)
        floor = seed_floor(sim, daemon, venue, symbols, per_symbol, requests)
        rss_mb = rss(daemon.pid) / 2**20
        idle = idle_cpu(daemon.pid, max(IDLE_SECONDS * scale, 3.0))
        quiet = read_queries(daemon.db, max(5.0 * scale, 2.0), symbols[-1])
        quiet_count = read_queries(daemon.db, max(5.0 * scale, 2.0), symbols[-1], COUNT)
        # The paced load twice: with the tail reader alone, then with the query reader
        # beside it, which on a 2-core machine competes with the simulator and the daemon
        # for the CPU: the difference is the machine, not the tracker.
        latency, _ = paced(sim, daemon, symbols[-1], scale, query=False)
        busy, readers = paced(sim, daemon, symbols[-1], scale, query=True)
        latency["with_query_reader"] = {k: busy[k] for k in ("p50_ms", "p99_ms", "max_ms")}
        latency["targets_met"]["with query reader p99 <= 10 ms"] = busy["p99_ms"] <= 10
        return {
            "seed": seed_figures(book, seed_s, floor),
            "footprint": {"rss_mb_after_seed": round(rss_mb, 1),
                          "idle_cpu_pct_of_one_core": round(idle, 3),
                          "targets_met": {"rss <= 150 MB": rss_mb <= 150,
                                          "idle cpu <= 1%": idle <= 1.0}},
            "latency": latency,
            "readers": readers | {"quiet": quiet, "quiet_count_only": quiet_count},
        }
    finally:
        daemon.close()
        sim.close()


def run_postgres(work: Path, scale: float, database: Database, venue: Venue = BITMART,
                 floor: Floor | None = None) -> dict[str, Any]:
    """The seed and the latency to a LISTENing reader, on an account of a PostgreSQL
    database. `floor` is the SQLite seed's, used again when this seed sent as many
    requests (it does: the same exchange, the same pages)."""
    sim, daemon, symbols, per_symbol = start(work, scale, venue,
                                             PostgresBook(database, ACCOUNT))
    try:
        book, seed_s, requests = seeded(sim, daemon)
        if floor is None or floor[0] != requests:
            floor = seed_floor(sim, daemon, venue, symbols, per_symbol, requests)
        rss_mb = rss(daemon.pid) / 2**20
        latency, _ = paced(sim, daemon, symbols[-1], scale, query=False)
        return {
            "seed": seed_figures(book, seed_s, floor),
            "footprint": {"rss_mb_after_seed": round(rss_mb, 1)},
            "latency": {"reader": "LISTEN tracker_book, then the account's rows past its "
                                  "last seq"} | latency,
        }
    finally:
        daemon.close()
        sim.close()


def seed_seconds(log: Path) -> float:
    """From the first splice_start to the first book_live, by the daemon's own clock."""
    def first(event: str) -> float:
        stamp = logged(log, event)[0]["timestamp"]
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

    return first("book_live") - first("splice_start")


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid: int, seconds: float) -> float:
    """Percent of one core over `seconds` with no order flow: keep-alives only."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - started)


def reader(script: str, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            text=True, env=env or clean_env())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def tail_reader(store: BookUnderTest, seconds: float) -> subprocess.Popen[str]:
    """A separate process that notes when each order's journal row first shows, woken by
    the writer's announcement of each commit: SQLite's change feed, PostgreSQL's NOTIFY."""
    if isinstance(store, PostgresBook):
        database = store.database
        return reader(LISTEN_TAIL, database.url(password=False), store.account, str(seconds),
                      env=client_env(clean_env()) | {"PGPASSWORD": database.password})
    assert isinstance(store, SqliteBook)
    return reader(TAIL, str(store.path), str(seconds))


def finish(proc: subprocess.Popen[str]) -> Any:
    out, _ = proc.communicate(timeout=600)
    return json.loads(out)


SELECT = "SELECT * FROM open_orders WHERE symbol = ?"
# The typical question: one symbol's open orders, a hundred of them.
TYPICAL = "SELECT * FROM open_orders WHERE symbol = ? LIMIT 100"
# The same search without turning 5,000 rows into Python objects: SQLite's own share.
COUNT = "SELECT count(*) FROM open_orders WHERE symbol = ?"


def read_queries(db: Path, seconds: float, symbol: str, sql: str = SELECT) -> dict[str, Any]:
    result = finish(reader(QUERY, str(db), str(seconds), symbol, json.dumps([sql])))
    return {"rows": result["rows"][0]} | {f"{k}_ms": v for k, v in
                                          percentiles(result["ms"][0]).items() if k != "n"}


def paced(sim: Sim, daemon: Daemon, symbol: str, scale: float, *, query: bool
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    seconds = max(PACE_SECONDS * scale, 3.0)
    tail = tail_reader(daemon.store, seconds + 5)
    querying = reader(QUERY, str(daemon.db), str(seconds), symbol,
                      json.dumps([SELECT, TYPICAL])) if query else None
    paced_symbol = sim.http.post("/load/pace", json={"rate": PACE_RATE,
                                                     "seconds": seconds}).json()["symbol"]
    queried = finish(querying) if querying else {"ms": [[], []], "rows": [0, 0]}
    seen = finish(tail)
    load = sim.http.get("/load", params={"times": 1}).json()
    # The simulator's order ids, as the book keys them.
    sent = {daemon.book_id(paced_symbol, oid): at for oid, at in load["sent_ns"].items()}
    ms = [(seen[oid] - at) / 1e6 for oid, at in sorted(sent.items(), key=lambda kv: kv[1])
          if oid in seen]
    third = max(len(ms) // 3, 1)
    latency = {"rate_per_s": PACE_RATE, "seconds": seconds, "sent": len(sent),
               "seen": len(ms)} | {f"{k}_ms": v for k, v in percentiles(ms).items()
                                   if k != "n"} | {
        "p50_first_third_ms": percentiles(ms[:third])["p50"],
        "p50_last_third_ms": percentiles(ms[-third:])["p50"]}
    lat = percentiles(ms)
    if isinstance(daemon.store, PostgresBook):
        latency["targets_met"] = {"p99 <= 20 ms": lat["p99"] <= 20,
                                  "all seen": len(ms) == len(sent)}
    else:
        latency["targets_met"] = {"p50 <= 2 ms": lat["p50"] <= 2,
                                  "p99 <= 5 ms": lat["p99"] <= 5,
                                  "all seen": len(ms) == len(sent)}
    q, typical = percentiles(queried["ms"][0]), percentiles(queried["ms"][1])
    readers = {"rows": queried["rows"][0], "queries": q["n"], "p50_ms": q["p50"],
               "p99_ms": q["p99"], "max_ms": q["max"],
               "typical": {"rows": queried["rows"][1], "queries": typical["n"],
                           "p50_ms": typical["p50"], "p99_ms": typical["p99"],
                           "max_ms": typical["max"]},
               "targets_met": {"typical (100 rows) p99 <= 1 ms": typical["p99"] <= 1}}
    return latency, readers
