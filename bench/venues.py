"""The venues the benchmarks measure, one entry each: what differs between them and
nothing else, so that every measurement is written once (bench/ingest.py, bench/peer.py,
bench/live.py) and a venue is one more entry here.

An entry says how the venue's face spells the load (the very function the simulator's face
sends with), how a client with no checks reads one of its frames (the physical floor), how
the daemon is configured for it (its `harness.profiles.Profile`, plus the seed's settings),
which ccxt.pro client takes the same burst, and what the seed's floor is made of.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import floors
from harness.profiles import BINANCE as BINANCE_PROFILE
from harness.profiles import BITMART_V2, Profile
from harness.profiles import OKX as OKX_PROFILE
from simulator.burst import LoadPush
from simulator.faces.binance import load as binance_load
from simulator.faces.bitmart import load as bitmart_load
from simulator.faces.okx import load as okx_load
from tracker.venues.binance.codec import SIDE, STATE
from tracker.venues.bitmart.frames import frame_text
from tracker.venues.okx import codec as okx_codec
from tracker.venues.okx import protocol as okx_protocol

LIMIT = 1 << 20  # the daemon's default max_frame: what a floor inflates a frame within
# Where `make clients` installs current ccxt, apart from the environment's (which pins
# 4.5.70, the last release with BitMart): tests/clients/clients.txt.
CLIENTS = Path(sys.prefix) / "clients"

# One journal row and one order row of a raw order object, in the columns of
# tracker.sqlite.store's EVENTS and ORDERS statements, given its seq and the time (ms).
Rows = tuple[tuple[Any, ...], tuple[Any, ...]]


@dataclass(frozen=True)
class Peer:
    """A ccxt.pro client of the venue, following the stream in memory (bench/peer.py)."""

    exchange: str  # the ccxt.pro class
    symbol: str  # the burst's symbol as ccxt names it
    # The method that handles one order frame, wrapped to count what it parses, and where
    # in the frame the order objects are (None: the frame is one order).
    handler: str
    rows_key: str | None
    message_hash: str  # the future `watch_orders` waits on, once subscribed
    # The client's settings but the keys: the simulator's REST and WebSocket URLs (the
    # ready file's) and the size of its order cache.
    options: Callable[[Mapping[str, Any], int], dict[str, Any]]
    # Its keys: ccxt's name of each, and the TRACKER_* variable the harness puts it in.
    keys: Mapping[str, str]
    topic: str | None  # the topic the face lists for its subscription (None: any)
    # Where its ccxt is imported from, ahead of the environment's (None: the environment's).
    path: Path | None = None


@dataclass(frozen=True)
class Venue:
    name: str
    profile: Profile  # the daemon's settings, symbols and book ids (harness.profiles)
    # The frame its face sends for one load push (the face's `load_frame`, same function).
    frame: Callable[[LoadPush], str | bytes]
    # The physical floor: a frame's raw order objects, read as any client must (inflate
    # where the venue compresses, parse), and each one's two rows, the exchange's own
    # fields written as they come (as far as the book's columns take them).
    orders: Callable[[str | bytes], Iterable[dict[str, Any]]]
    rows: Callable[[dict[str, Any], int, int], Rows]
    physical_target: float  # the daemon's ingest at least this share of the physical floor
    peer: Peer
    seed_env: Mapping[str, str]  # the daemon's settings for the 20-symbol seed
    seed_floor: floors.SeedFloor  # and the floor its time is set beside


# -- BitMart ---------------------------------------------------------------------------------


def _bitmart_orders(frame: str | bytes) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(frame_text(frame, LIMIT))["data"]
    return data


def _bitmart_rows(e: dict[str, Any], seq: int, now: int) -> Rows:
    updated = int(e["update_time"])
    return ((seq, now, 1, "push", e["order_id"], e["order_state"], e["filled_size"], updated,
             "applied", None, None),
            (e["order_id"], e["symbol"], e["side"], e["type"], e["price"], e["size"],
             e["filled_size"], e["filled_notional"], e["order_state"], None,
             int(e["create_time"]), updated, "push", 0, now, seq))


def _bitmart_options(urls: Mapping[str, Any], limit: int) -> dict[str, Any]:
    rest = urls["rest_url"]
    return {"options": {"ordersLimit": limit},
            "urls": {"api": {"spot": rest, "swap": rest,
                             "ws": {"spot": {"private": urls["ws_url"]}}}}}


BITMART = Venue(
    "bitmart", BITMART_V2,
    frame=lambda push: bitmart_load.frame([bitmart_load.row(push)], compress=True),
    orders=_bitmart_orders, rows=_bitmart_rows, physical_target=0.5,
    peer=Peer("bitmart", "BTC/USDT", "handle_orders", "data", "orders::BTC/USDT",
              _bitmart_options, {"apiKey": "TRACKER_API_KEY", "secret": "TRACKER_API_SECRET",
                                 "uid": "TRACKER_API_MEMO"}, "spot/user/order:BTC_USDT"),
    seed_env={"TRACKER_PAGE_SIZE": str(floors.PAGE),
              "TRACKER_REST_RATE": str(floors.REST_RATE)},
    seed_floor=floors.bitmart_v2)


# -- Binance ---------------------------------------------------------------------------------


def _binance_orders(frame: str | bytes) -> list[dict[str, Any]]:
    return [json.loads(frame)["event"]]


def _binance_rows(e: dict[str, Any], seq: int, now: int) -> Rows:
    """The exchange's fields as they come, but for what the book's columns allow: its
    key (an orderId is unique within its symbol), its side and state words."""
    order_id, state = f"{e['s']}:{e['i']}", STATE[e["X"]]
    return ((seq, now, 1, "push", order_id, state, e["z"], e["T"], "applied", None, None),
            (order_id, e["s"], SIDE[e["S"]], e["o"], e["p"], e["q"], e["z"], e["Z"], state,
             None, e["O"], e["T"], "push", 0, now, seq))


def _binance_options(urls: Mapping[str, Any], limit: int) -> dict[str, Any]:
    rest = urls["rest_url"]
    return {"options": {"ordersLimit": limit, "fetchMarkets": {"types": ["spot"]},
                        "fetchCurrencies": False, "fetchMargins": False},
            "urls": {"api": {"public": f"{rest}/api/v3",  # exchangeInfo: the markets
                             "ws": {"ws-api": {"spot": urls[BINANCE_PROFILE.ws_key]}}}}}


BINANCE = Venue(
    "binance", BINANCE_PROFILE, frame=binance_load.frame, orders=_binance_orders,
    rows=_binance_rows, physical_target=0.7,
    peer=Peer("binance", "BTC/USDT", "handle_order_update", None, "orders:BTC/USDT",
              _binance_options, {"apiKey": "TRACKER_API_KEY", "secret": "TRACKER_API_SECRET"},
              None, CLIENTS),
    seed_env={}, seed_floor=floors.binance_weight)


# -- OKX -------------------------------------------------------------------------------------


def _okx_orders(frame: str | bytes) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(frame)["data"]
    return data


def _okx_rows(e: dict[str, Any], seq: int, now: int) -> Rows:
    """The exchange's fields as they come, but for the book's state word (the ordId is
    the book's key as is, the side already the book's word) and the times as numbers."""
    state, updated = okx_codec.STATE[e["state"]], int(e["uTime"])
    return ((seq, now, 1, "push", e["ordId"], state, e["accFillSz"], updated, "applied",
             None, None),
            (e["ordId"], e["instId"], e["side"], e["ordType"], e["px"], e["sz"],
             e["accFillSz"], None, state, None, int(e["cTime"]), updated, "push", 0, now,
             seq))


# ccxt.pro okx sends its text `ping` every 18 s and drops the connection when no `pong`
# came for two of those (36 s). A burst is in the socket ahead of the pong: a client taking
# longer than that to read it (ccxt takes some 46 s on a quiet machine) is cut by its own
# watchdog, then waits on a new connection the burst never reaches, which measures nothing.
# Its pings still go; only the cut waits for this many misses (an hour).
OKX_PEER_PONG_MISSES = 200


def _okx_options(urls: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """Live mode (no `x-simulated-trading` header, no demo broker id), pointed at the face:
    ccxt adds `/private` to the WebSocket base itself; only spot markets are loaded."""
    ws = urls[OKX_PROFILE.ws_key]
    return {"options": {"ordersLimit": limit, "fetchMarkets": {"types": ["spot"]},
                        "ws": {"maxPingPongMisses": OKX_PEER_PONG_MISSES}},
            "urls": {"api": {"rest": urls["rest_url"], "ws": ws.removesuffix("/private")}}}


OKX = Venue(
    "okx", OKX_PROFILE, frame=okx_load.frame, orders=_okx_orders, rows=_okx_rows,
    physical_target=0.7,
    peer=Peer("okx", "BTC/USDT", "handle_orders", "data", "orders:BTC-USDT", _okx_options,
              {"apiKey": "TRACKER_API_KEY", "secret": "TRACKER_API_SECRET",
               "password": "TRACKER_PASSPHRASE"}, None, CLIENTS),
    seed_env={"TRACKER_PAGE_SIZE": str(okx_protocol.PAGE_MAX)}, seed_floor=floors.okx_pending)

VENUES = {v.name: v for v in (BITMART, BINANCE, OKX)}
