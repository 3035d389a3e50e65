"""Each venue the benchmarks measure (bench/venues.py): its physical floor writes the rows the
daemon writes of the same frames, in the columns the book has, and its ccxt.pro peer names
a handler and a class that exist. A floor that wrote other rows, or fewer columns, would be
a floor of other work; a peer whose handler was renamed would count nothing."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bench import ingest
from bench.common import BURST_SYMBOL
from bench.venues import VENUES, Venue
from simulator import burst
from tracker.codec import OrderUpdate, amount_text
from tracker.frames import OrderPush
from tracker.storage import EVENT_COLUMNS, ORDER_COLUMNS

NAMES = sorted(VENUES)


def test_every_venue_of_the_tracker_is_measured() -> None:
    from harness.profiles import VENUES as PROFILED

    assert set(NAMES) == set(PROFILED)


@pytest.mark.parametrize("name", NAMES)
def test_the_physical_floor_writes_what_the_daemon_writes(name: str) -> None:
    venue: Venue = VENUES[name]
    decode, codec = ingest.pipeline(venue)
    start_ms = int(time.time() * 1000)
    pushes = burst.burst_pushes(3, 12, BURST_SYMBOL, start_ms)
    for seq, push in enumerate(pushes, 1):
        frame = venue.frame(push)
        decoded = decode(frame)
        assert isinstance(decoded, OrderPush) and decoded.ignored == 0
        updates = [e if isinstance(e, OrderUpdate) else codec.push_element(e)
                   for e in decoded.data]
        raw = list(venue.orders(frame))
        assert len(raw) == len(updates) == 1
        event, order = venue.rows(raw[0], seq, start_ms)
        assert len(event) == len(EVENT_COLUMNS) and len(order) == len(ORDER_COLUMNS)
        update = updates[0]
        columns = dict(zip(ORDER_COLUMNS, order, strict=True))
        assert (columns["order_id"], columns["symbol"], columns["side"], columns["state"]) == (
            update.order_id, update.symbol, update.side, update.state)
        assert (columns["price"], columns["size"], columns["filled_size"]) == (
            amount_text(update.price), amount_text(update.size),
            amount_text(update.filled_size))
        assert columns["updated_at"] == update.update_time
        assert columns["created_at"] == update.create_time == start_ms
        journal = dict(zip(EVENT_COLUMNS, event, strict=True))
        assert (journal["order_id"], journal["state"], journal["filled_size"]) == (
            update.order_id, update.state, amount_text(update.filled_size))
        assert update.order_id == venue.profile.book_id(BURST_SYMBOL, str(push.order_id))


@pytest.mark.parametrize("name", NAMES)
def test_the_peer_names_a_ccxt_class_and_handler_that_exist(name: str) -> None:
    """Checked in the peer's own interpreter, on the ccxt it runs (`make clients`' for a
    peer with a path), as bench/peer.py starts it."""
    peer = VENUES[name].peer
    assert peer.path is None or (peer.path / "ccxt").is_dir(), "run `make clients`"
    script = ("import sys, ccxt.pro; ex = getattr(ccxt.pro, sys.argv[1])(); "
              "assert callable(getattr(ex, sys.argv[2])), sys.argv[2]")
    done = subprocess.run(
        [sys.executable, "-c", script, peer.exchange, peer.handler], capture_output=True,
        text=True, timeout=120,
        env={"PYTHONPATH": str(peer.path)} if peer.path else None)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_bench_takes_every_venue() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert "{" + ",".join(VENUES) + "}" in done.stdout
