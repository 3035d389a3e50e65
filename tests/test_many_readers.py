"""Eight reader processes against a daemon that ingests at full rate and splices again and
again: no "database is locked" on either side, no reader ever sees half a transaction,
and what a long read would hold back stays bounded while the readers keep their reads
short, as the README asks (SQLite's WAL; on PostgreSQL, the oldest open transaction, which
holds back the vacuuming of `sync_state`'s row, rewritten at every batch).

What makes half a splice visible: a splice writes its journal rows, the orders they
change and `sync_state` (epoch, counters, last_seed_orders) in one transaction. So in any
snapshot a reader takes, (1) `sync_state`'s outcome counters equal the journal's counts by
outcome, and (2) the distinct orders in epoch E's seed rows number exactly
`last_seed_orders` of that same epoch E. A torn write breaks one or the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from harness import Lab, clean_env, eventually
from harness.books import BookUnderTest, PostgresBook, SqliteBook
from harness.postgres import client_env
from harness.profiles import BITMART_V4

READER_HEAD = r"""
import json, sys, time
seconds = float(sys.argv[1])
"""
# `snapshot()`: one read transaction of sync_state's counters, the journal's counts by
# outcome, the distinct orders seeded in sync_state's epoch and the open BTC_USDT orders.
READER_SQLITE = r"""
import sqlite3
from urllib.parse import quote
conn = sqlite3.connect(f"file:{quote(sys.argv[2])}?mode=ro", uri=True, timeout=5,
                       isolation_level=None)
Error = sqlite3.Error

def snapshot():
    conn.execute("BEGIN")
    try:
        state = conn.execute("SELECT epoch, live, applied, duplicate, stale, invalid, "
                             "last_seed_orders FROM sync_state").fetchone()
        counts = dict(conn.execute("SELECT outcome, COUNT(*) FROM order_events GROUP BY 1"))
        seeded = conn.execute("SELECT COUNT(DISTINCT order_id) FROM order_events WHERE "
                              "epoch = ? AND source LIKE 'seed_%' AND outcome != 'invalid'",
                              (state[0],)).fetchone()[0]
        rows = conn.execute("SELECT order_id FROM open_orders WHERE symbol = ?",
                            ("BTC_USDT",)).fetchall()
        conn.execute("COMMIT")
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return state, counts, seeded, rows
"""
# PostgreSQL: a repeatable-read transaction, so that its statements see one commit (read
# committed would give each statement its own, and see torn splices that never were); the
# password comes from PGPASSWORD, not argv.
READER_POSTGRES = r"""
import psycopg
conn = psycopg.connect(sys.argv[2], autocommit=True, connect_timeout=5)
account = sys.argv[3]
Error = psycopg.Error

def snapshot():
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        state = conn.execute("SELECT epoch, live, applied, duplicate, stale, invalid, "
                             "last_seed_orders FROM sync_state WHERE account = %s",
                             (account,)).fetchone()
        counts = dict(conn.execute("SELECT outcome, COUNT(*) FROM order_events "
                                   "WHERE account = %s GROUP BY 1", (account,)).fetchall())
        seeded = conn.execute("SELECT COUNT(DISTINCT order_id) FROM order_events "
                              "WHERE account = %s AND epoch = %s AND source LIKE 'seed_%%' "
                              "AND outcome != 'invalid'", (account, state[0])).fetchone()[0]
        rows = conn.execute("SELECT order_id FROM open_orders WHERE account = %s "
                            "AND symbol = %s", (account, "BTC_USDT")).fetchall()
    return state, counts, seeded, rows
"""
READER_LOOP = r"""
report = {"reads": 0, "errors": [], "torn": [], "epochs": set(), "live_reads": 0}
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        state, counts, seeded, rows = snapshot()
    except Error as exc:
        report["errors"].append(str(exc))
        continue
    report["reads"] += 1
    epoch, live = state[0], state[1]
    expected = [counts.get(k, 0) for k in ("applied", "duplicate", "stale", "invalid")]
    if list(state[2:6]) != expected:
        report["torn"].append(f"counters {list(state[2:6])} != journal {expected}")
    if epoch > 0 and seeded != state[6]:
        report["torn"].append(f"epoch {epoch}: {seeded} seed rows, last_seed_orders {state[6]}")
    report["epochs"].add(epoch)
    report["live_reads"] += live
report["epochs"] = sorted(report["epochs"])
report["torn"] = report["torn"][:5] + [f"... {len(report['torn'])} in all"]
print(json.dumps(report))
"""
READERS = 8
SECONDS = 15.0
WAL_LIMIT = 16 * 2**20
# A reader's transaction lasts milliseconds; one held for seconds is a reader that keeps a
# snapshot open, which the bound catches with room for a busy machine's scheduling.
TRANSACTION_LIMIT_MS = 5000


def start_reader(store: BookUnderTest) -> subprocess.Popen[str]:
    env = client_env(clean_env())
    if isinstance(store, SqliteBook):
        part, args = READER_SQLITE, [str(store.path)]
    else:
        assert isinstance(store, PostgresBook)
        part, args = READER_POSTGRES, [store.database.url(password=False), store.account]
        env["PGPASSWORD"] = store.database.password
    return subprocess.Popen([sys.executable, "-c", READER_HEAD + part + READER_LOOP,
                             str(SECONDS), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def held_back(store: BookUnderTest) -> int:
    """What long reads would make grow: the WAL's bytes on SQLite; on PostgreSQL, the age in
    ms of the oldest transaction in the database (but this one) holding a snapshot or a
    transaction id, which keeps every version of the rows written since from being vacuumed.
    (The writer's claim is a transaction held open with neither: it holds nothing back.)"""
    if isinstance(store, SqliteBook):
        wal = Path(f"{store.path}-wal")
        return wal.stat().st_size if wal.exists() else 0
    assert isinstance(store, PostgresBook)
    (row,) = store.query(
        "SELECT COALESCE(MAX(EXTRACT(EPOCH FROM clock_timestamp() - xact_start) * 1000), 0)"
        "::bigint AS age FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
        "AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)")
    return int(row["age"])


def test_eight_readers_while_ingesting_and_splicing(lab: Lab, store: BookUnderTest) -> None:
    sim = lab.sim("--open-orders", "60", "--rate", "250", "--seed", "31")
    # v4: its seed pages have a rate of their own, while v2's wait behind the order-detail
    # questions of every vanished order, so that a v2 splice takes longer and longer as the
    # book grows, past the 2 s between drops, and too few of them complete in the run.
    daemon = lab.daemon(sim, profile=BITMART_V4, store=store,
                        env={"TRACKER_RECONCILE_INTERVAL": "1"}).start()
    first = daemon.wait_live()
    readers = [start_reader(store) for _ in range(READERS)]
    held_max = 0
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:  # resplices on top of the periodic ones, and samples
        sim.drop("abort")
        for _ in range(20):
            held_max = max(held_max, held_back(store))
            time.sleep(0.1)
    reports = []
    for reader in readers:
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        reports.append(json.loads(out))

    last = daemon.wait_live(epoch_above=first.state["epoch"])
    spliced = last.state["epoch"] - first.state["epoch"]
    assert spliced >= 4, f"only {spliced} splices during the run"
    assert last.state["applied"] - first.state["applied"] >= 1000  # it was ingesting
    for report in reports:
        assert report["errors"] == [], report["errors"][:3]
        assert report["torn"] == ["... 0 in all"], report["torn"]
        assert report["reads"] >= 200 and report["live_reads"] > 0
        assert len(report["epochs"]) >= 3  # it read across many splices
    log = daemon.log.read_text()
    assert "locked" not in log and "busy" not in log.lower()
    assert '"db_unreachable"' not in log  # the readers never cost the writer its database
    if isinstance(store, SqliteBook):
        # The WAL is checkpointed while readers behave: a few MB at most, not growing with
        # the run (a checkpoint every CHECKPOINT_PAGES pages).
        assert 0 < held_max < WAL_LIMIT, held_max
        eventually(lambda: _wal_under(store.path, WAL_LIMIT), 10, "the WAL stays small")
    else:
        # Transactions were open when sampled (the readers read), none for long.
        assert 0 < held_max < TRANSACTION_LIMIT_MS, held_max


def _wal_under(db: Path, limit: int) -> None:
    size = os.stat(f"{db}-wal").st_size
    assert size < limit, size
