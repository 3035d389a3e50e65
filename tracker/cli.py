"""The `tracker` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_CONFIG = 78


class ConfigError(Exception):
    """A bad setting: reported as one line naming it, exit code 78."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser(
        "sim", help="run the bundled BitMart-compatible exchange simulator",
        description="Serve v2 REST, v4 REST, the private WebSocket (/user?protocol=1.1) and "
                    "the control API (/control) on one port. Credentials come from "
                    "TRACKER_SIM_API_KEY, TRACKER_SIM_API_SECRET and TRACKER_SIM_API_MEMO "
                    "(default: the demo account in the README).")
    sim.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    sim.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one")
    sim.add_argument("--seed", type=int, default=0, help="seed of the order flow and faults")
    sim.add_argument("--symbols", default=None,
                     help="comma-separated symbols (default: BTC_USDT,ETH_USDT,BMX_ETH)")
    sim.add_argument("--open-orders", type=int, default=0, metavar="N",
                     help="open orders created per symbol at start")
    sim.add_argument("--rate", type=float, default=0.0,
                     help="order-flow events per second (0: no flow)")
    sim.add_argument("--mix", default=None,
                     help="flow event weights, e.g. new=4,partial=2,fill=1.5,cancel=2,market=0.5")
    sim.add_argument("--plain", action="store_true",
                     help="send pushes as text frames instead of raw-DEFLATE binary frames")
    sim.add_argument("--faults", default=None, metavar="JSON|FILE",
                     help='initial faults, e.g. \'{"push_drop": 0.1}\' (see README)')
    sim.add_argument("--idle-timeout", type=float, default=20.0,
                     help="seconds of client silence before a WebSocket is dropped")
    sim.add_argument("--lifeless-timeout", type=float, default=300.0,
                     help="seconds a WebSocket may stay without a subscription")
    sim.add_argument("--v2-rate-limit", type=int, default=100,
                     help="v2 calls per second per token")
    sim.add_argument("--cancel-retention", type=float, default=1200.0,
                     help="seconds v4 query/order still finds an unfilled cancel")
    sim.add_argument("--ready-file", type=Path, default=None,
                     help="write the listening URLs here as JSON once serving")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sim":
            return run_sim(args)
    except ConfigError as exc:
        print(f"tracker: configuration error: {exc}", file=sys.stderr)
        return EX_CONFIG
    return EX_USAGE


def sim_settings(args: argparse.Namespace):  # -> tracker.simulator.app.Settings
    try:
        from tracker.simulator.app import DEMO_ACCOUNT, Account, Settings
        from tracker.simulator.faults import FaultConfigError, Faults, load_faults
        from tracker.simulator.flow import DEFAULT_MIX, FlowConfigError, parse_mix
        from tracker.simulator.store import DEFAULT_SYMBOLS, SymbolSpec
    except ImportError as exc:  # aiohttp is in the optional "sim" extra
        raise ConfigError(f"the simulator needs the 'sim' extra ({exc.name} is missing): "
                          "pip install 'bitmart-order-tracker[sim]'") from None
    known = {s.name: s for s in DEFAULT_SYMBOLS}
    symbols = DEFAULT_SYMBOLS
    if args.symbols:
        names = [n.strip() for n in args.symbols.split(",") if n.strip()]
        bad = [n for n in names if "_" not in n or not n.replace("_", "").isalnum()]
        if not names or bad:
            raise ConfigError(f"--symbols: expected BASE_QUOTE names, got {args.symbols!r}")
        symbols = tuple(known.get(n, SymbolSpec(n, Decimal("100.00"), 2, 4)) for n in names)
    for name in ("port", "open_orders", "v2_rate_limit"):
        value = getattr(args, name)
        if value < 0 or (name == "port" and value > 65535):
            raise ConfigError(f"--{name.replace('_', '-')}: out of range: {value}")
    for name in ("rate", "idle_timeout", "lifeless_timeout", "cancel_retention"):
        value = getattr(args, name)
        if not value >= 0 or value == float("inf"):
            raise ConfigError(f"--{name.replace('_', '-')}: must be a finite number >= 0")
    try:
        mix = parse_mix(args.mix) if args.mix else dict(DEFAULT_MIX)
    except FlowConfigError as exc:
        raise ConfigError(f"--mix: {exc}") from None
    faults: dict[str, object] = {}
    if args.faults:
        try:
            faults = load_faults(args.faults)
            Faults().update(faults)
        except (FaultConfigError, OSError) as exc:
            raise ConfigError(f"--faults: {exc}") from None
    env = os.environ
    account = Account(
        api_key=env.get("TRACKER_SIM_API_KEY", DEMO_ACCOUNT.api_key),
        secret=env.get("TRACKER_SIM_API_SECRET", DEMO_ACCOUNT.secret),
        memo=env.get("TRACKER_SIM_API_MEMO", DEMO_ACCOUNT.memo),
    )
    return Settings(
        host=args.host, port=args.port, seed=args.seed, symbols=symbols,
        open_orders_per_symbol=args.open_orders, rate=args.rate, mix=mix,
        compress=not args.plain, ws_idle_timeout_s=args.idle_timeout,
        ws_lifeless_s=args.lifeless_timeout, v2_rate_limit=args.v2_rate_limit,
        cancel_retention_s=args.cancel_retention, account=account, faults=faults,
    )


def run_sim(args: argparse.Namespace) -> int:
    settings = sim_settings(args)
    from tracker.simulator.app import start

    async def serve() -> int:
        try:
            running = await start(settings)
        except OSError as exc:
            print(f"tracker: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
                  file=sys.stderr)
            return EX_UNAVAILABLE
        urls = {"rest_url": running.rest_url, "ws_url": running.ws_url,
                "control_url": f"{running.rest_url}/control", "port": running.port}
        print(f"simulator listening: REST {running.rest_url}  WebSocket {running.ws_url}  "
              f"control {running.rest_url}/control", flush=True)
        if args.ready_file:
            tmp = args.ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(urls))
            tmp.replace(args.ready_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await running.stop()
        return 0

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
