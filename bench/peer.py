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
from bench.venues import Venue
from harness import Sim, clean_env
from simulator import burst
from simulator.state import DEMO_ACCOUNT

TIMEOUT_S = 900.0

# argv: the peer's description (JSON: the ccxt.pro class, its settings but the keys, which
# of them come from which TRACKER_* variable, the symbol, the handler of an order frame and
# where its rows are, the future a subscribed watch waits on) and the last order's id; the
# keys in TRACKER_API_* as the harness hands them to a daemon. Prints "ready" once its
# first watch waits, then one JSON line: when its cache first held the last order closed
# (noted as its handler returns: frames handled while no watch waits resolve nothing, so a
# watch started after the last ones would wait for a frame that never comes), what it
# parsed, its CPU over the burst, and its cache (order id -> status, filled, amount). A
# frame its handler fails on ends it (exit 3, the traceback in peer.err), and so does a
# minute with no orders (exit 4, said why), rather than leave it waiting for ever.
WATCH = r"""
import asyncio, json, os, resource, sys, time, traceback
import ccxt
import ccxt.pro

spec, last = json.loads(sys.argv[1]), sys.argv[2]
SYMBOL = spec["symbol"]
SILENCE_S = 60.0


def cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main():
    ex = getattr(ccxt.pro, spec["exchange"])(spec["config"] | {
        name: os.environ[variable] for name, variable in spec["keys"].items()})
    parsed = 0
    seen_ns = None
    handle = getattr(ex, spec["handler"])
    rows_key = spec["rows_key"]

    def counting(client, message):
        nonlocal parsed, seen_ns
        parsed += len(message.get(rows_key) or ()) if rows_key else 1
        try:
            handle(client, message)
        except Exception:  # in ccxt's receive callback: the watch would wait for ever
            traceback.print_exc()
            os._exit(3)
        if seen_ns is None:
            order = ex.orders.hashmap.get(SYMBOL, {}).get(last) if ex.orders else None
            if order is not None and order["status"] == "closed":
                seen_ns = time.time_ns()

    setattr(ex, spec["handler"], counting)
    try:
        pending = asyncio.ensure_future(ex.watch_orders(SYMBOL))
        while not any(spec["message_hash"] in c.futures for c in ex.clients.values()):
            if pending.done():
                pending.result()
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        cpu_before = cpu_s()
        batches = rows = 0
        quiet_since = time.monotonic()
        while seen_ns is None:
            done, _ = await asyncio.wait({pending}, timeout=0.1)
            if done:
                batches += 1
                rows += len(pending.result())
                pending = asyncio.ensure_future(ex.watch_orders(SYMBOL))
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > SILENCE_S:
                cached = ex.orders.hashmap.get(SYMBOL, {}) if ex.orders else {}
                print(f"no orders for {SILENCE_S:g} s: {rows} rows returned, {parsed} "
                      f"parsed, {len(cached)} cached, clients "
                      f"{[(c.url, c.closed()) for c in ex.clients.values()]}",
                      file=sys.stderr, flush=True)
                os._exit(4)
        cpu = cpu_s() - cpu_before
        pending.cancel()
        cache = {oid: [o["status"], str(o["filled"]), str(o["amount"])]
                 for oid, o in ex.orders.hashmap.get(SYMBOL, {}).items()}
    finally:
        await ex.close()
    print(json.dumps({"version": ccxt.__version__, "seen_ns": seen_ns, "parsed": parsed,
                      "batches": batches, "rows": rows, "cpu_s": cpu, "cache": cache}))


asyncio.run(main())
"""


def run(work: Path, venue: Venue, orders: int, pushes: int, start_ms: int) -> dict[str, Any]:
    """The burst of `ingest.through_daemon` with these arguments, taken in by the venue's
    ccxt.pro client alone: from the simulator's first send to the peer seeing the last
    order closed."""
    work.mkdir(parents=True, exist_ok=True)
    sim = Sim(work, "--symbols", BURST_SYMBOL, name="peer-sim")
    last = str(burst.BASE_ID + orders - 1)
    described = venue.peer
    spec = {"exchange": described.exchange, "symbol": described.symbol,
            "config": {"enableRateLimit": False, "timeout": 10000}
            | described.options(sim.urls, orders),
            "keys": dict(described.keys), "handler": described.handler,
            "rows_key": described.rows_key, "message_hash": described.message_hash}
    with (work / "peer.err").open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", WATCH, json.dumps(spec), last],
            stdout=subprocess.PIPE, stderr=err, text=True,
            env=clean_env() | venue.profile.keys(DEMO_ACCOUNT) | (
                {"PYTHONPATH": str(described.path)} if described.path else {}))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", f"the peer failed: see {err.name}"

        def subscribed() -> bool:
            assert proc.poll() is None, f"the peer exited: see {err.name}"
            # Subscribed: the topic named, or any (a push reaches a connection with one).
            return any(described.topic in s["topics"] if described.topic else s["topics"]
                       for s in sim.stats()["connections"])

        poll(subscribed, timeout=30, interval=0.02)
        answer = sim.http.post("/load/burst", timeout=600, json={
            "orders": orders, "pushes": pushes, "start_ms": start_ms}).json()
        assert answer["last_order_id"] == last, answer
        out, _ = proc.communicate(timeout=TIMEOUT_S)
        assert proc.returncode == 0, (f"the peer exited with {proc.returncode}: see {err.name}; "
                                      f"the simulator's counters: {sim.stats()['counters']}")
        seen = json.loads(out.splitlines()[-1])
        poll(lambda: not sim.http.get("/load").json()["running"], timeout=60, interval=0.05)
        load = sim.http.get("/load").json()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sim.close()
    peer_s = (seen["seen_ns"] - load["started_ns"]) / 1e9
    return {"peer": f"ccxt.pro {seen['version']} {described.exchange} watch_orders, in memory",
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
    the filled amount and the size that state carries (the same pushes the simulator
    planned)."""
    finals = burst.burst_pushes(orders, pushes, BURST_SYMBOL, start_ms)[-orders:]
    return len(cache) == orders and all(
        push.state == "filled" and str(push.order_id) in cache
        and cache[str(push.order_id)][0] == "closed"
        and Decimal(cache[str(push.order_id)][1]) == push.filled
        and Decimal(cache[str(push.order_id)][2]) == push.size
        for push in finals)
