"""`tracker demo`: the simulator with order flow, the daemon against it, and a live view.

Both run as real subprocesses, exactly as a user would run them; the view reads the book
the way any other reader does (read-only), and on Ctrl-C compares it with the exchange's
ground truth.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tracker import readers

CLEAR = "\x1b[H\x1b[2J"


def run(args: argparse.Namespace) -> int:
    from tracker.simulator.app import DEMO_ACCOUNT

    work = Path(tempfile.mkdtemp(prefix="tracker-demo-"))
    db = Path(args.db) if args.db else work / "orders.db"
    ready = work / "sim.json"
    sim_cmd = [sys.executable, "-m", "tracker.cli", "sim", "--port", "0", "--ready-file",
               str(ready), "--open-orders", str(args.open_orders), "--rate", str(args.rate)]
    if args.faults:
        sim_cmd += ["--faults", args.faults]
    sim_log = (work / "sim.log").open("w")
    # Own sessions: Ctrl-C reaches the demo alone, which then stops both in order.
    sim = subprocess.Popen(sim_cmd, stdout=sim_log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    daemon: subprocess.Popen[bytes] | None = None
    try:
        urls = _wait_ready(ready, sim)
        env = os.environ | {
            "TRACKER_API_KEY": DEMO_ACCOUNT.api_key, "TRACKER_API_SECRET": DEMO_ACCOUNT.secret,
            "TRACKER_API_MEMO": DEMO_ACCOUNT.memo, "TRACKER_DB": str(db),
            "TRACKER_SYMBOLS": "BTC_USDT,ETH_USDT,BMX_ETH", "TRACKER_REST_URL": urls["rest_url"],
            "TRACKER_WS_URL": urls["ws_url"], "TRACKER_LOG_FORMAT": "json"}
        daemon_log = (work / "tracker.log").open("w")
        daemon = subprocess.Popen([sys.executable, "-m", "tracker.cli", "run"], env=env,
                                  stdout=daemon_log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        print(f"simulator: {urls['rest_url']}   book: {db}   logs: {work}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            _view(db, daemon)
        verdict = _compare(db, urls["control_url"])
        print(f"\n{verdict}")
        return 0
    finally:
        for proc in (daemon, sim):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (daemon, sim):
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if daemon is not None:
            print(f"tracker exited with {daemon.returncode}; book kept at {db}")


def _wait_ready(ready: Path, sim: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if ready.exists():
            return json.loads(ready.read_text())
        if sim.poll() is not None:
            raise SystemExit(f"the simulator exited with {sim.returncode}")
        time.sleep(0.05)
    raise SystemExit("the simulator did not start within 20 s")


def _view(db: Path, daemon: subprocess.Popen[bytes]) -> None:
    tty = sys.stdout.isatty()
    while daemon.poll() is None:
        try:
            frame = _frame(db, shutil.get_terminal_size().lines - 6 if tty else 5)
        except readers.Unavailable:
            frame = "waiting for the book..."
        print((CLEAR if tty else "") + frame, flush=True)
        time.sleep(0.5 if tty else 2.0)
    raise SystemExit(f"the tracker exited with {daemon.returncode}")


def _frame(db: Path, rows_shown: int) -> str:
    from tracker.cli import render_table

    state = readers.status(db)
    orders = readers.open_orders(db)
    orders.sort(key=lambda r: r["updated_at"] or r["created_at"] or 0, reverse=True)
    by_symbol: dict[str, int] = {}
    for r in orders:
        by_symbol[r["symbol"]] = by_symbol.get(r["symbol"], 0) + 1
    head = (f"{'LIVE' if state['live'] else 'NOT LIVE'} | {state['status']} | epoch "
            f"{state['epoch']} | reconnects {state['reconnects']} | events applied "
            f"{state['applied']}, duplicate {state['duplicate']}, stale {state['stale']}, "
            f"invalid {state['invalid']}\n"
            + "  ".join(f"{s}: {n}" for s, n in sorted(by_symbol.items()))
            + "   (most recently changed first; Ctrl-C to stop)\n")
    table = render_table(orders[:max(rows_shown, 1)]).splitlines()
    table[-1] = f"{len(orders)} open orders"
    return head + "\n".join(table)


def _compare(db: Path, control: str) -> str:
    """Pause the flow, let the last pushes land, then hold the book against the truth."""
    try:
        httpx.patch(f"{control}/flow", json={"rate": 0}, timeout=5)
        time.sleep(1.0)
        truth = httpx.get(f"{control}/truth", params={"open": 1}, timeout=5).json()["orders"]
        book = {r["order_id"]: r for r in readers.open_orders(db)}
    except (httpx.HTTPError, readers.Unavailable) as exc:
        return f"could not compare with the exchange: {exc}"
    want = {o["orderId"]: o for o in truth}
    wrong = [oid for oid in want.keys() & book.keys()
             if Decimal(want[oid]["filledSize"]) != Decimal(book[oid]["filled_size"])]
    missing, extra = want.keys() - book.keys(), book.keys() - want.keys()
    if not (missing or extra or wrong):
        return f"the book matches the exchange: {len(book)} open orders, all exact"
    return (f"the book differs from the exchange: {len(missing)} missing, {len(extra)} extra, "
            f"{len(wrong)} with another filled size")
