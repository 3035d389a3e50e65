"""`tracker run` with venue = "okx" against the simulator's OKX face, as real subprocesses:
the book goes live, follows the stream and stays equal to the truth while the connection
sits quiet past OKX's idle cut. The suites run on every profile (tests/test_e2e.py, crash
safety, the fleet) and for every venue they apply to cover the rest: an unfilled cancel OKX
no longer knows (tests/test_e2e.py), an instrument OKX does not list
(tests/test_startup_failures_e2e.py)."""

from __future__ import annotations

import json
import time
from decimal import Decimal

from harness import Lab
from harness.profiles import OKX
from harness.waiting import eventually
from simulator.state import DEMO_ACCOUNT


def held(order_id: str, open_ids: set[str]) -> None:
    """An assertion, for `eventually` (which waits out an AssertionError, not a False)."""
    assert order_id in open_ids, f"{order_id} is not in the book yet"


def test_the_book_follows_the_okx_face_past_the_idle_cut(lab: Lab) -> None:
    """The face cuts a connection that sent nothing for 3 s (OKX: 30 s); the daemon's text
    pings every 2 s (`ping_interval`) keep one connection up across long quiet spells."""
    sim = lab.sim("--okx-idle-timeout", "3")
    for symbol, price in (("BTC_USDT", "60000"), ("BTC_USDT", "60100"), ("ETH_USDT", "3000")):
        sim.place(symbol=symbol, side="buy", price=price, size="1")
    daemon = lab.daemon(sim, profile=OKX).start()
    book = daemon.wait_live(60)
    assert book.state["api"] == "v5" and len(book.open_ids) == 3
    assert {r["symbol"] for r in book.orders.values()} == {"BTC-USDT", "ETH-USDT"}
    daemon.wait_converged(sim)
    time.sleep(7)  # quiet: more than twice the idle cut

    placed = sim.place(symbol="BTC_USDT", side="sell", price="61000", size="0.3")
    oid = placed["orderId"]
    eventually(lambda: held(oid, daemon.book().open_ids), 20, "the new order is in the book")
    sim.fill(oid, "0.1")

    def partly() -> None:
        row = daemon.book().orders[oid]
        assert (row["state"], Decimal(row["filled_size"]), row["source"]) == (
            "partially_filled", Decimal("0.1"), "push"), row
    eventually(partly, 20, "the fill is in the book")
    sim.cancel(oid)
    book = daemon.wait_converged(sim)
    assert book.orders[oid]["state"] == "partially_canceled"
    ups = [json.loads(line) for line in daemon.tail(2000).splitlines()
           if '"stream_up"' in line]
    assert len(ups) == 1, daemon.tail()  # never cut for quiet
    assert ups[0]["instruments"] == 3  # configured; one subscription of every instrument
    log = daemon.tail(2000)
    assert DEMO_ACCOUNT.secret not in log and DEMO_ACCOUNT.passphrase not in log
