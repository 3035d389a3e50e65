"""A real peer on the ingest burst: ccxt.pro's `watch_orders`, keeping orders in memory only.

The daemon makes every push durable in SQLite before it counts as taken in; a client
library that keeps them in a dict does less. Set beside the daemon's figure, this one says
what that durability costs against a client people actually use, on the very same frames.

The simulator writes a burst to every subscribed socket, so ccxt.pro gets a simulator of
its own (the same arguments as the daemon's run) with nothing else connected. It runs in
its own process, with its own interpreter and core, as the daemon does: it subscribes,
says "ready", and keeps calling `watch_orders` (each call returns the rows of the push
that woke it; pushes handled meanwhile land only in `exchange.orders`) until the burst's
last order, whose last push is the burst's last, is closed in its cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import BURST_SYMBOL, poll, ratio
from harness import CREDENTIALS, Sim, clean_env
from simulator import burst
from simulator.faces.bitmart import load as bitmart
from tracker.venues.bitmart import protocol

TIMEOUT_S = 900.0

# argv: ws_url, rest_url, orders_limit, last_order_id; the account in TRACKER_API_* as the
# harness hands it to a daemon. Prints "ready" once its first watch waits, then one JSON
# line: when it saw the last order closed, what it parsed, its CPU over the burst, and its
# cache (order id -> status, filled, amount).
WATCH = r"""
import asyncio, json, os, resource, sys, time
import ccxt
import ccxt.pro

ws_url, rest_url, limit, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
SYMBOL = "BTC/USDT"


def cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main():
    ex = ccxt.pro.bitmart({
        "apiKey": os.environ["TRACKER_API_KEY"], "secret": os.environ["TRACKER_API_SECRET"],
        "uid": os.environ["TRACKER_API_MEMO"], "enableRateLimit": False, "timeout": 10000,
        "options": {"ordersLimit": limit},
        "urls": {"api": {"spot": rest_url, "swap": rest_url,
                         "ws": {"spot": {"private": ws_url}}}},
    })
    parsed = 0
    handle = ex.handle_orders

    def counting(client, message):
        nonlocal parsed
        parsed += len(message.get("data") or ())
        handle(client, message)

    ex.handle_orders = counting
    try:
        pending = asyncio.ensure_future(ex.watch_orders(SYMBOL))
        while not any("orders::" + SYMBOL in c.futures for c in ex.clients.values()):
            if pending.done():
                pending.result()
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        cpu_before = cpu_s()
        batch = await pending
        batches = rows = 0
        while True:
            batches += 1
            rows += len(batch)
            order = ex.orders.hashmap.get(SYMBOL, {}).get(last)
            if order is not None and order["status"] == "closed":
                seen_ns = time.time_ns()
                break
            batch = await ex.watch_orders(SYMBOL)
        cpu = cpu_s() - cpu_before
        cache = {oid: [o["status"], str(o["filled"]), str(o["amount"])]
                 for oid, o in ex.orders.hashmap.get(SYMBOL, {}).items()}
    finally:
        await ex.close()
    print(json.dumps({"version": ccxt.__version__, "seen_ns": seen_ns, "parsed": parsed,
                      "batches": batches, "rows": rows, "cpu_s": cpu, "cache": cache}))


asyncio.run(main())
"""


def run(work: Path, orders: int, pushes: int, start_ms: int) -> dict[str, Any]:
    """The burst of `ingest.through_daemon` with these arguments, taken in by ccxt.pro
    alone: from the simulator's first send to the peer seeing the last order closed."""
    work.mkdir(parents=True, exist_ok=True)
    sim = Sim(work, "--symbols", BURST_SYMBOL, name="peer-sim")
    last = str(burst.BASE_ID + orders - 1)
    with (work / "peer.err").open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", WATCH, sim.ws_url, sim.rest_url, str(orders), last],
            stdout=subprocess.PIPE, stderr=err, text=True, env=clean_env() | CREDENTIALS)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", f"the peer failed: see {err.name}"
        topic = protocol.order_topic(BURST_SYMBOL)

        def subscribed() -> bool:
            assert proc.poll() is None, f"the peer exited: see {err.name}"
            return any(s["logged_in"] and topic in s["topics"]
                       for s in sim.stats()["connections"])

        poll(subscribed, timeout=30, interval=0.02)
        answer = sim.http.post("/load/burst", timeout=600, json={
            "orders": orders, "pushes": pushes, "start_ms": start_ms}).json()
        assert answer["last_order_id"] == last, answer
        out, _ = proc.communicate(timeout=TIMEOUT_S)
        assert proc.returncode == 0, f"the peer exited with {proc.returncode}: see {err.name}"
        seen = json.loads(out.splitlines()[-1])
        poll(lambda: not sim.http.get("/load").json()["running"], timeout=60, interval=0.05)
        load = sim.http.get("/load").json()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sim.close()
    peer_s = (seen["seen_ns"] - load["started_ns"]) / 1e9
    return {"peer": f"ccxt.pro {seen['version']} bitmart watch_orders, in memory",
            "peer_s": round(peer_s, 3),
            "peer_pushes_per_s": round(load["frames"] / peer_s),
            "peer_orders_seen": len(seen["cache"]), "peer_updates_parsed": seen["parsed"],
            "peer_batches": seen["batches"], "peer_rows_returned": seen["rows"],
            "peer_cpu_s": round(seen["cpu_s"], 3),
            "peer_cpu_per_wall": ratio(seen["cpu_s"], peer_s),
            "peer_sim_send_s": round((load["finished_ns"] - load["started_ns"]) / 1e9, 3),
            "peer_exact": seen["parsed"] == load["frames"] and exact(
                seen["cache"], orders, pushes, start_ms)}


def exact(cache: dict[str, list[str]], orders: int, pushes: int, start_ms: int) -> bool:
    """Every burst order is in the cache in its last pushed state: closed (filled), with
    the filled amount and the size that state carries (the same rows the simulator made)."""
    finals = bitmart.burst_rows(orders, pushes, BURST_SYMBOL, start_ms)[-orders:]
    return len(cache) == orders and all(
        row["order_state"] == "filled" and row["order_id"] in cache
        and cache[row["order_id"]][0] == "closed"
        and Decimal(cache[row["order_id"]][1]) == Decimal(row["filled_size"])
        and Decimal(cache[row["order_id"]][2]) == Decimal(row["size"])
        for row in finals)

