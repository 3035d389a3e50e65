"""Eight reader processes against a daemon that ingests at full rate and splices again and
again: no "database is locked" on either side, no reader ever sees half a transaction,
and the WAL stays bounded while the readers keep their reads short, as the README asks.

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

READER = r"""
import json, sqlite3, sys, time
from urllib.parse import quote
db, seconds = sys.argv[1], float(sys.argv[2])
conn = sqlite3.connect(f"file:{quote(db)}?mode=ro", uri=True, timeout=5, isolation_level=None)
report = {"reads": 0, "errors": [], "torn": [], "epochs": set(), "live_reads": 0}
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        conn.execute("BEGIN")
        state = conn.execute("SELECT epoch, live, applied, duplicate, stale, invalid, "
                             "last_seed_orders FROM sync_state").fetchone()
        counts = dict(conn.execute("SELECT outcome, COUNT(*) FROM order_events GROUP BY 1"))
        seeded = conn.execute("SELECT COUNT(DISTINCT order_id) FROM order_events WHERE "
                              "epoch = ? AND source LIKE 'seed_%' AND outcome != 'invalid'",
                              (state[0],)).fetchone()[0]
        rows = conn.execute("SELECT order_id FROM open_orders WHERE symbol = ?",
                            ("BTC_USDT",)).fetchall()
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        report["errors"].append(str(exc))
        if conn.in_transaction:
            conn.execute("ROLLBACK")
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


def test_eight_readers_while_ingesting_and_splicing(lab: Lab) -> None:
    sim = lab.sim("--open-orders", "60", "--rate", "250", "--seed", "31")
    daemon = lab.daemon(sim, env={"TRACKER_RECONCILE_INTERVAL": "1"}).start()
    first = daemon.wait_live()
    wal = Path(f"{daemon.db}-wal")
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(daemon.db), str(SECONDS)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=clean_env()) for _ in range(READERS)]
    wal_max = 0
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:  # resplices on top of the periodic ones, and WAL samples
        sim.drop("abort")
        for _ in range(20):
            wal_max = max(wal_max, wal.stat().st_size if wal.exists() else 0)
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
    # The WAL is checkpointed while readers behave: a few MB at most, not growing with
    # the run (autocheckpoint is 1000 pages).
    assert 0 < wal_max < 16 * 2**20, wal_max
    eventually(lambda: _none_over(daemon.db, 16 * 2**20), 10, "the WAL stays small")


def _none_over(db: Path, limit: int) -> None:
    size = os.stat(f"{db}-wal").st_size
    assert size < limit, size
