"""The `tracker` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import shlex
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from tracker import backends, formats, readers, watch
from tracker import config as config_mod
from tracker.identity import Consent
from tracker.migrate import StartupError
from tracker.postgres import migrate as pg_migrate
from tracker.venues import NAMES as VENUE_NAMES

# sysexits(3). A StartupError carries its own code: 69 (metrics_port taken), 73 (the book
# cannot be created or written), 74 (a damaged book, a full disk), 75 (the book is in use),
# 78 (not a tracker book, a newer schema, a book of another exchange account or of symbols
# the tracker would not cover); `tracker run` also ends with 74 when its book was deleted
# or replaced, or a stop could not write everything.
EX_UNAVAILABLE = 69
EX_CONFIG = 78
# What a shell reports for a program that SIGPIPE ended (128 + 13): the reader of its
# output went away, as with `tracker orders | head -2`.
EX_PIPE = 141
CONFIG_HELP = "TOML file (default: $TRACKER_CONFIG); only its db is read"
READER_CONFIG_HELP = "TOML file (default: $TRACKER_CONFIG); only its db and account are read"
DB_HELP = ("path of the SQLite book, or a PostgreSQL URL (the password from .pgpass, "
           "PGPASSWORD or TRACKER_DB_PASSWORD_FILE, not here)")
ACCOUNT_HELP = "PostgreSQL: whose book to read (required with a URL)"


class Parser(argparse.ArgumentParser):
    """A mistake on the command line ends as any bad setting does: one line naming the
    option and exit 78, which systemd does not restart (flags are settings too: a unit whose
    command line is wrong cannot be fixed by starting it again)."""

    def __init__(self, *args: Any, error_code: int = EX_CONFIG, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error_code = error_code

    def error(self, message: str) -> NoReturn:
        self.exit(self.error_code, f"{self.prog}: {message} (see: {self.prog} --help)\n")


def version() -> str:
    try:
        return importlib.metadata.version("open-order-tracker")
    except importlib.metadata.PackageNotFoundError:  # a source tree that was not installed
        return "unknown (not installed)"


def build_parser() -> Parser:
    parser = Parser(prog="tracker", description="Keeps an exact book of an exchange "
                    "account's open orders, in an SQLite file or a PostgreSQL database that "
                    "many accounts and readers share (db: a path or a postgresql:// URL). "
                    "'tracker COMMAND --help' describes a command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for add in (_add_run, _add_readers, _add_demo, _add_sim):
        add(commands)
    for sub in commands.choices.values():
        sub.set_defaults(command_parser=sub)
    return parser


def _add_run(commands: argparse._SubParsersAction[Parser]) -> None:
    credentials = "; ".join(
        f"{v.title}: {', '.join(f'TRACKER_{n.upper()}' for n in v.credential_names)}"
        for v in config_mod.VENUES.values())
    run = commands.add_parser(
        "run", help="the daemon: seed the book, then keep it current from the stream",
        description="The daemon: seed the book, then keep it current from the stream. "
                    "Settings: defaults < TOML file < TRACKER_* environment < these flags. "
                    f"Credentials, by venue ({credentials}), each also as ..._FILE or a "
                    "systemd credential of its name in lower case.")
    run.add_argument("--config", type=Path, help="TOML file (default: $TRACKER_CONFIG)")
    run.add_argument("--venue", choices=config_mod.choices("venue"), help="the exchange")
    run.add_argument("--api", choices=config_mod.choices("api"),
                     help="BitMart: seed endpoint family")
    run.add_argument("--symbols", help="comma-separated symbols; * for all (v4 only)")
    run.add_argument("--db", help="the book: an SQLite path, or a PostgreSQL URL (its "
                     "password belongs in .pgpass or TRACKER_DB_PASSWORD_FILE, not here)")
    run.add_argument("--account", help="PostgreSQL: this tracker's account in the book")
    run.add_argument("--rest-url", help="REST base URL")
    run.add_argument("--ws-url", help="private WebSocket URL")
    for name in ("log_level", "log_format"):
        run.add_argument(f"--{name.replace('_', '-')}", choices=config_mod.choices(name))
    run.add_argument("--drop-symbols", metavar="SYMBOLS", default="",
                     help="comma-separated symbols the book covers and the configured symbols "
                          "do not: their open orders leave the book (* for any); a start "
                          "that would drop others is refused (exit 78)")
    run.add_argument("--replace-keys", metavar="FINGERPRINT", default="",
                     help="after rotating the account's API keys: the key fingerprint the "
                          "book records (as the refusal shows it), which the configured "
                          "keys replace")


def _add_readers(commands: argparse._SubParsersAction[Parser]) -> None:
    """The commands that only read the book."""

    def book(command: Parser) -> None:
        command.add_argument("--config", type=Path, help=READER_CONFIG_HELP)
        command.add_argument("--db", help=DB_HELP)
        command.add_argument("--account", help=ACCOUNT_HELP)

    summary = "print the open orders (read-only)"
    orders = commands.add_parser(
        "orders", help=summary, description=f"{summary.capitalize()}, as one read of the "
        "book. A symbol the book has never held an order of is named on stderr.")
    book(orders)
    orders.add_argument("--symbol", type=str.upper, help="only this symbol, e.g. BTC_USDT")
    orders.add_argument("--all-accounts", action="store_true",
                        help="PostgreSQL: every account's open orders, each with its account, "
                             "its venue and whether its book is live (not with --account)")
    orders.add_argument("--format", choices=formats.ORDER_FORMATS, default="table",
                        help="table (default), json or csv; amounts as text, exact")

    summary = ("is the book live? exit 0 live, 1 not live, 3 daemon not running, "
               "69 book unreadable (or an account no tracker has written)")
    status = commands.add_parser(
        "status", help=summary, description=f"{summary[0].upper()}{summary[1:]}. Shows "
        "the venue, since when, the last event and seed, and the daemon; times in UTC.")
    book(status)
    status.add_argument("--json", action="store_true",
                        help="machine-readable output (an error too: {\"error\": ...})")

    summary = ("for container health checks: exit 0 when the book is live and the daemon "
               "running, 1 otherwise (never any other code)")
    health = commands.add_parser(
        "healthcheck", help=summary, description=f"{summary.capitalize()}.", error_code=1)
    book(health)

    summary = "create or upgrade the book's schema (the daemon also does this at start)"
    migrate = commands.add_parser("migrate", help=summary,
                                  description=f"{summary.capitalize()}.")
    migrate.add_argument("--config", type=Path, help=CONFIG_HELP)
    migrate.add_argument("--db", help="path of the SQLite book, or a PostgreSQL URL "
                         "(postgresql://USER@HOST/DBNAME; the password from .pgpass, "
                         "PGPASSWORD or TRACKER_DB_PASSWORD_FILE, not here)")

    summary = "follow the journal, one JSON line per change, as journalctl -f does (read-only)"
    follow = commands.add_parser(
        "watch", help=summary, description=f"{summary[0].upper()}{summary[1:]}. It waits out "
        "daemon restarts and a missing book; when retention deleted rows it had not shown, or "
        "the book at the path is another one, it says so and prints the open orders before "
        "going on. Ends with SIGINT or SIGTERM, exit 0.")
    book(follow)
    follow.add_argument("--since", type=int, metavar="SEQ",
                        help="the last seq already seen: start after it (0: the whole "
                             "journal; default: from now)")
    follow.add_argument("--symbol", type=str.upper, help="only this symbol's orders")
    follow.add_argument("--format", choices=("json", "table"), default="json")


def _add_demo(commands: argparse._SubParsersAction[Parser]) -> None:
    summary = "the simulator with order flow, the tracker against it, and a live view"
    demo = commands.add_parser(
        "demo", help=summary,
        description=f"{summary.capitalize()}: all three as real processes, the book an SQLite "
                    "file. On a terminal one screen redrawn in place; piped, one plain line "
                    "each time the book changed. Ctrl-C (or SIGTERM) stops the flow, checks "
                    "the book against the simulator's ground truth and exits 0; the demo's "
                    "temporary directory is removed, its book with it unless --db names one.")
    demo.add_argument("--rate", type=float, default=5.0, help="order-flow events per second")
    demo.add_argument("--open-orders", type=int, default=20, help="open orders per symbol")
    demo.add_argument("--db", default=None, help="book path (default: a temporary file)")
    demo.add_argument("--faults", default=None, help="simulator faults (JSON)")
    demo.add_argument("--venue", choices=VENUE_NAMES, default=VENUE_NAMES[0],
                      help="the exchange the simulator plays and the tracker tracks "
                           f"(default {VENUE_NAMES[0]})")


def _add_sim(commands: argparse._SubParsersAction[Parser]) -> None:
    sim = commands.add_parser(
        "sim", help="run the bundled exchange simulator (BitMart, Binance Spot and OKX)",
        description="Serve BitMart's v2 REST, v4 REST and private WebSocket "
                    "(/user?protocol=1.1), Binance Spot's REST (/api/v3) and WebSocket API "
                    "(/ws-api/v3), OKX's REST (/api/v5) and private WebSocket (/ws/v5/private), "
                    "and the control API (/control) on one port. Credentials come from "
                    "TRACKER_SIM_API_KEY, TRACKER_SIM_API_SECRET, TRACKER_SIM_API_MEMO, "
                    "TRACKER_SIM_API_PUBLIC_KEY (Binance's RSA or Ed25519 key) and "
                    "TRACKER_SIM_PASSPHRASE (OKX's; default: the demo account in "
                    "docs/simulator.md), or, for many accounts each with its own orders and "
                    "flow, from --accounts.")
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
    sim.add_argument("--amounts", choices=("minimal", "padded"), default="minimal",
                     help="minimal: amounts with the fewest decimals, as the live exchange "
                          "writes them; padded: at their scale, as BitMart's documentation")
    sim.add_argument("--faults", default=None, metavar="JSON|FILE",
                     help='initial faults, e.g. \'{"push_drop": 0.1}\' (see docs/simulator.md)')
    sim.add_argument("--idle-timeout", type=float, default=20.0,
                     help="seconds of client silence before a WebSocket is dropped")
    sim.add_argument("--lifeless-timeout", type=float, default=300.0,
                     help="seconds a WebSocket may stay without a subscription")
    sim.add_argument("--v2-rate-limit", type=int, default=100,
                     help="v2 calls per second per token")
    sim.add_argument("--cancel-retention", type=float, default=1200.0,
                     help="seconds v4 query/order still finds an unfilled cancel")
    sim.add_argument("--binance-max-age", type=float, default=86400.0, metavar="S",
                     help="seconds a Binance WebSocket API connection lives (default: 24 h)")
    sim.add_argument("--binance-ping", type=float, default=20.0, metavar="S",
                     help="seconds between the Binance WebSocket API's pings")
    sim.add_argument("--binance-pong-timeout", type=float, default=60.0, metavar="S",
                     help="seconds without a pong before a Binance connection is cut")
    sim.add_argument("--binance-archive", type=float, default=90 * 86400.0, metavar="S",
                     help="seconds until Binance's order query archives an unfilled cancel "
                          "(-2026; default: 90 days)")
    sim.add_argument("--binance-weight-limit", type=int, default=6000, metavar="N",
                     help="Binance request weight per IP and minute")
    sim.add_argument("--binance-ban", type=float, default=120.0, metavar="S",
                     help="seconds of an IP's ban (418) after it ignored a 429")
    sim.add_argument("--binance-shutdown-delay", type=float, default=5.0, metavar="S",
                     help="seconds from a serverShutdown event to the close")
    sim.add_argument("--okx-idle-timeout", type=float, default=30.0, metavar="S",
                     help="seconds without a frame from the client before an OKX WebSocket "
                          "is cut (4004)")
    sim.add_argument("--okx-cancel-retention", type=float, default=7200.0, metavar="S",
                     help="seconds OKX's order detail still finds an unfilled cancel (51603 "
                          "after; default: 2 h)")
    sim.add_argument("--okx-notice-delay", type=float, default=60.0, metavar="S",
                     help="seconds from a 64008 notice to the close (POST /control/okx/notice)")
    sim.add_argument("--venue", choices=VENUE_NAMES, default=VENUE_NAMES[0],
                     help="whose lines to print for `tracker run` against it (every face is "
                          "served whichever is named)")
    sim.add_argument("--ready-file", type=Path, default=None,
                     help="write the listening URLs here as JSON once serving")
    sim.add_argument("--accounts", type=Path, default=None, metavar="FILE",
                     help="serve these accounts instead of one: a JSON list of {name, "
                          "api_key, secret, memo, symbols?, open_orders?, rate?} (the first "
                          "is the control API's default; see docs/simulator.md)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        parser.print_help(sys.stderr)
        return parser.error_code
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the command's parser, whose exit code a healthcheck needs
        getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    exposed(args)
    commands = {"sim": run_sim, "run": run_daemon, "orders": show_orders,
                "status": show_status, "healthcheck": healthcheck, "migrate": run_migrate,
                "demo": run_demo, "watch": watch.run}
    try:
        code = commands[args.command](args)
        sys.stdout.flush()  # a reader that went away shows here, not at the interpreter's exit
        return code
    except BrokenPipeError:
        # As Python's documentation advises: whatever is still buffered goes to devnull (the
        # interpreter flushes stdout again at exit), and the command stops quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1 if args.command == "healthcheck" else EX_PIPE
    except config_mod.ConfigError as exc:
        return failed(args, f"configuration error: {exc}", EX_CONFIG)
    except readers.Unavailable as exc:
        return failed(args, str(exc), EX_UNAVAILABLE)
    except StartupError as exc:
        return failed(args, str(exc), exc.code)


def exposed(args: argparse.Namespace) -> None:
    """A password in `--db` is in the process's argv, which every user of the host reads
    (`ps`, /proc/PID/cmdline) for as long as it runs: said once, and the command goes on
    (a one-off `tracker migrate` by hand may accept that; a service should not)."""
    db = getattr(args, "db", None)
    url = config_mod.postgres_url(db) if isinstance(db, str) else None
    if url is not None and pg_migrate.passwords(url):
        print("tracker: warning: --db holds a password, which every user of this host can "
              "read (ps, /proc/PID/cmdline): put it in ~/.pgpass, TRACKER_DB_PASSWORD_FILE "
              "or the systemd credential db_password", file=sys.stderr, flush=True)


def failed(args: argparse.Namespace, message: str, code: int) -> int:
    """One line on stderr; with --json also an object on stdout, for a reader that parses
    whatever the command prints."""
    print(f"tracker: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "exit_code": code}))
    return code


def run_daemon(args: argparse.Namespace) -> int:
    from tracker import daemon, logs

    flags = {"venue": args.venue, "api": args.api, "symbols": args.symbols, "db": args.db,
             "account": args.account, "rest_url": args.rest_url, "ws_url": args.ws_url,
             "log_level": args.log_level, "log_format": args.log_format}
    consent = Consent(frozenset(s.strip().upper() for s in args.drop_symbols.split(",")
                                if s.strip()), args.replace_keys.strip())

    def load() -> config_mod.Config:
        """SIGHUP reads the same sources again: this file, these flags, the environment."""
        return dataclasses.replace(config_mod.load(args.config, os.environ, flags),
                                   consent=consent)

    config = load()
    backend = backends.choose(config.db, os.environ)
    logs.configure(config.log_level, config.log_format, (*config.credentials, *backend.secrets))
    try:
        return asyncio.run(daemon.run(config, backend, load))
    except KeyboardInterrupt:
        return 0


def _book(args: argparse.Namespace) -> backends.Reader:
    return backends.locate(args.config, os.environ, args.db, args.account)


def show_orders(args: argparse.Namespace) -> int:
    if args.all_accounts and args.account:
        # Both cannot be meant: which account's orders, or every account's?
        args.command_parser.error("--all-accounts and --account: give one or the other")
    book = backends.locate(args.config, os.environ, args.db, args.account,
                           every=args.all_accounts)
    if args.all_accounts:
        rows, seen, books = book.every_account(args.symbol)
        # Each account's rows say whether its book is current, and its venue (its rows'
        # symbols are that venue's); each account that is not current says why on stderr,
        # where a pipe's reader still sees it.
        rows = [{"account": r["account"], "book_live": books[r["account"]]["live"], **r,
                 "venue": books[r["account"]]["venue"]} for r in rows]
        for account, state in books.items():
            if not state["live"]:
                print(f"tracker: account {account}: NOT LIVE: {formats.why_not_live(state)}; "
                      "its rows may be behind the exchange", file=sys.stderr)
    else:
        rows, seen = book.open_orders(args.symbol)
    if not seen:
        print(f"tracker: the book has never held an order of {args.symbol} (is it one of the "
              "daemon's symbols?)", file=sys.stderr)
    formats.write_orders(rows, args.format, sys.stdout, accounts=args.all_accounts)
    return 0


STATUS_LIVE, STATUS_NOT_LIVE, STATUS_NOT_RUNNING = 0, 1, 3


def show_status(args: argparse.Namespace) -> int:
    state = _book(args).status()
    # A heartbeat from the future tells nothing of the daemon: the book is not live, but
    # whether its daemon runs is not known.
    code = (STATUS_LIVE if state["running"] and state["live"] else
            STATUS_NOT_RUNNING if not state["running"] and not state["heartbeat_future_ms"]
            else STATUS_NOT_LIVE)
    if args.json:
        print(json.dumps(state | {"exit_code": code}))
    else:
        print(formats.status_text(state))
    return code


def healthcheck(args: argparse.Namespace) -> int:
    """Docker reserves exit code 2 and up: every failure here is 1."""
    try:
        state = _book(args).status()
    except (readers.Unavailable, config_mod.ConfigError, StartupError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    healthy = bool(state["running"] and state["live"])
    print("healthy" if healthy else f"unhealthy: {formats.why_not_live(state)}")
    return 0 if healthy else 1


def run_migrate(args: argparse.Namespace) -> int:
    backend = backends.choose(config_mod.db_target(args.config, os.environ, args.db), os.environ)
    before, after = backend.migrate()
    where = backend.shown
    if before == after:
        print(f"{where}: nothing to do, already at schema version {after} (the latest)")
    elif before == 0:
        print(f"{where}: created the book, schema version {after}")
    else:
        print(f"{where}: upgraded from schema version {before} to {after} (the latest)")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from tracker import demo

    return demo.run(args)


def sim_settings(args: argparse.Namespace):  # -> simulator.state.Settings
    try:
        from simulator.faults import FaultConfigError, Faults, load_faults
        from simulator.flow import DEFAULT_MIX, FlowConfigError, parse_mix
        from simulator.state import (
            DEMO_ACCOUNT,
            Account,
            AccountsError,
            Settings,
            check_public_key,
            load_accounts,
        )
        from simulator.store import DEFAULT_SYMBOLS, SymbolSpec
    except ImportError as exc:  # aiohttp is in the optional "sim" extra
        raise config_mod.ConfigError(
            f"the simulator needs the 'sim' extra ({exc.name} is missing): "
            "pip install 'open-order-tracker[sim]'") from None
    known = {s.name: s for s in DEFAULT_SYMBOLS}
    symbols = DEFAULT_SYMBOLS
    if args.symbols:
        names = [n.strip() for n in args.symbols.split(",") if n.strip()]
        bad = [n for n in names if "_" not in n or not n.replace("_", "").isalnum()]
        if not names or bad:
            raise config_mod.ConfigError(
                f"--symbols: expected BASE_QUOTE names, got {args.symbols!r}")
        symbols = tuple(known.get(n, SymbolSpec(n, Decimal("100.00"), 2, 4)) for n in names)
    for name in ("port", "open_orders", "v2_rate_limit", "binance_weight_limit"):
        value = getattr(args, name)
        if value < 0 or (name == "port" and value > 65535):
            raise config_mod.ConfigError(f"--{name.replace('_', '-')}: out of range: {value}")
    for name in ("rate", "idle_timeout", "lifeless_timeout", "cancel_retention",
                 "binance_archive", "binance_ban", "binance_shutdown_delay",
                 "okx_cancel_retention", "okx_notice_delay"):
        value = getattr(args, name)
        if not value >= 0 or value == float("inf"):
            raise config_mod.ConfigError(
                f"--{name.replace('_', '-')}: must be a finite number >= 0")
    for name in ("binance_max_age", "binance_ping", "binance_pong_timeout", "okx_idle_timeout"):
        value = getattr(args, name)
        if not value > 0 or value == float("inf"):
            raise config_mod.ConfigError(
                f"--{name.replace('_', '-')}: must be a finite number > 0")
    try:
        mix = parse_mix(args.mix) if args.mix else dict(DEFAULT_MIX)
    except FlowConfigError as exc:
        raise config_mod.ConfigError(f"--mix: {exc}") from None
    faults: dict[str, object] = {}
    if args.faults:
        try:
            faults = load_faults(args.faults)
            Faults().update(faults)
        except (FaultConfigError, OSError) as exc:
            raise config_mod.ConfigError(f"--faults: {exc}") from None
    env = os.environ
    account = Account(
        api_key=env.get("TRACKER_SIM_API_KEY", DEMO_ACCOUNT.api_key),
        secret=env.get("TRACKER_SIM_API_SECRET", DEMO_ACCOUNT.secret),
        memo=env.get("TRACKER_SIM_API_MEMO", DEMO_ACCOUNT.memo),
        public_key=env.get("TRACKER_SIM_API_PUBLIC_KEY", ""),
        passphrase=env.get("TRACKER_SIM_PASSPHRASE", DEMO_ACCOUNT.passphrase),
    )
    if account.public_key and (problem := check_public_key(account.public_key)):
        raise config_mod.ConfigError(f"TRACKER_SIM_API_PUBLIC_KEY: {problem}")
    accounts = ()
    if args.accounts is not None:
        try:
            accounts = load_accounts(args.accounts, symbols)
        except AccountsError as exc:
            raise config_mod.ConfigError(f"--accounts: {exc}") from None
    return Settings(
        host=args.host, port=args.port, seed=args.seed, symbols=symbols,
        open_orders_per_symbol=args.open_orders, rate=args.rate, mix=mix,
        compress=not args.plain, amounts=args.amounts, ws_idle_timeout_s=args.idle_timeout,
        ws_lifeless_s=args.lifeless_timeout, v2_rate_limit=args.v2_rate_limit,
        cancel_retention_s=args.cancel_retention, account=account, accounts=accounts,
        faults=faults, binance_archive_s=args.binance_archive,
        binance_weight_limit=args.binance_weight_limit, binance_ban_s=args.binance_ban,
        binance_ping_s=args.binance_ping, binance_pong_timeout_s=args.binance_pong_timeout,
        binance_max_age_s=args.binance_max_age,
        binance_shutdown_delay_s=args.binance_shutdown_delay,
        okx_idle_timeout_s=args.okx_idle_timeout,
        okx_cancel_retention_s=args.okx_cancel_retention,
        okx_notice_delay_s=args.okx_notice_delay,
    )


def run_against(settings: Any, running: Any, args: argparse.Namespace) -> str:
    """What `tracker run` needs to track the simulator's first account on the venue
    `--venue` names, as lines a shell takes as they are: the venue, the URLs (the
    WebSocket's with its path and query), the keys and the symbols as that venue writes
    them. Keys a user gave the simulator are named, not printed: its output may be a log.
    Only the documented demo keys are written out."""
    from simulator.state import DEMO_ACCOUNT
    from tracker.demo import sim_credentials

    first = settings.served()[0]
    face = running.sim.faces[args.venue]
    symbols = ",".join(face.symbol(s.name) for s in first.symbols or settings.symbols)
    q = shlex.quote
    lines = ["# tracker run against this simulator: in another shell, paste these lines"]
    if args.venue != VENUE_NAMES[0]:
        lines.append(f"export TRACKER_VENUE={args.venue}")
    lines += [f"export TRACKER_REST_URL={q(running.rest_url)}",
              f"export TRACKER_WS_URL={q(running.ws_urls[args.venue])}"]
    keys = sim_credentials(first.credentials, args.venue)
    if args.accounts is not None:
        lines.append(f"# and the keys of account {first.name!r} in {args.accounts}: "
                     f"{', '.join(keys)}")
    elif first.credentials == DEMO_ACCOUNT:
        lines.append("export " + " ".join(f"{k}={q(v)}" for k, v in keys.items()))
    else:
        lines.append("export " + " ".join(f'{k}="${k.replace("TRACKER_", "TRACKER_SIM_")}"'
                                          for k in keys))
    lines.append(f"export TRACKER_SYMBOLS={q(symbols)}")
    lines.append("# then: tracker run --db orders.db")
    orders = first.open_orders_per_symbol
    rate = first.rate if first.rate is not None else settings.rate
    if not (orders if orders is not None else settings.open_orders_per_symbol) and not rate:
        lines.append("# no open orders and no flow: for a book that moves, start the "
                     "simulator with --open-orders 20 --rate 5")
    return "\n".join(lines)


def run_sim(args: argparse.Namespace) -> int:
    settings = sim_settings(args)
    from simulator.app import start

    async def serve() -> int:
        try:
            running = await start(settings)
        except OSError as exc:
            print(f"tracker: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
                  file=sys.stderr)
            return EX_UNAVAILABLE
        # `ws_url` is BitMart's, as it always was; each face's is `<face>_ws_url` too, and
        # the first account's symbols as that face writes them `<face>_symbols`.
        first = settings.served()[0].symbols or settings.symbols
        urls = {"rest_url": running.rest_url, "ws_url": running.ws_url,
                **{f"{name}_ws_url": url for name, url in running.ws_urls.items()},
                **{f"{name}_symbols": [face.symbol(s.name) for s in first]
                   for name, face in running.sim.faces.items()},
                "control_url": f"{running.rest_url}/control", "port": running.port}
        print(f"simulator listening: REST {running.rest_url}  WebSocket "
              f"{running.ws_urls[args.venue]}  control {running.rest_url}/control", flush=True)
        print(run_against(settings, running, args), flush=True)
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
