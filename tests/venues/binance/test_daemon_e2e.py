"""`tracker run` with venue = "binance" against the simulator's Binance face, as real
subprocesses: the book goes live with the open orders the face holds, then follows the
stream (a new order, a fill, a cancel) and stays equal to the truth. A symbol Binance does
not list is tests/test_startup_failures_e2e.py's, with every venue that checks one."""

from __future__ import annotations

import time

from harness import Lab
from harness.profiles import BINANCE
from harness.waiting import eventually
from simulator.state import DEMO_ACCOUNT
from tests.test_daemon_ops import free_port, scrape


def test_the_book_follows_the_binance_face(lab: Lab) -> None:
    sim = lab.sim()
    for symbol, price in (("BTC_USDT", "60000"), ("BTC_USDT", "60100"), ("ETH_USDT", "3000"),
                          ("BMX_ETH", "0.5")):
        sim.place(symbol=symbol, side="buy", price=price, size="1")
    daemon = lab.daemon(sim, profile=BINANCE).start()
    book = daemon.wait_live(60)
    assert book.state["api"] == "v3" and len(book.open_ids) == 4
    daemon.wait_converged(sim)

    placed = sim.place(symbol="BTC_USDT", side="sell", price="61000", size="0.3")
    oid = BINANCE.book_id("BTC_USDT", placed["orderId"])
    assert oid == f"BTCUSDT:{placed['orderId']}"
    eventually(lambda: oid in daemon.book().open_ids, 20, "the new order is in the book")
    sim.fill(placed["orderId"], "0.1")

    def partly() -> None:
        row = daemon.book().orders[oid]
        assert (row["state"], row["filled_size"], row["source"]) == (
            "partially_filled", "0.10000000", "push"), row
    eventually(partly, 20, "the fill is in the book")
    sim.cancel(placed["orderId"])
    daemon.wait_converged(sim)
    assert daemon.book().orders[oid]["state"] == "partially_canceled"
    assert DEMO_ACCOUNT.secret not in daemon.tail(400)


def test_orders_closed_just_before_a_reconnect_are_not_seeded_open(lab: Lab) -> None:
    """The face's reads trail its engine by 700 ms (`rest_stale_ms`), and every event of the
    outage is lost: orders canceled and filled just before the stream comes back are still
    open in a read made at once. The splice reads after `rest_lag_ms` (1 s), and so sees
    them closed; no periodic reconcile runs here to mend it later."""
    sim = lab.sim("--seed", "31")
    daemon = lab.daemon(sim, profile=BINANCE).start()
    epoch = daemon.wait_live(60).state["epoch"]
    sim.faults(rest_stale_ms=700)
    for _ in range(3):  # three outages, each closing orders just before the reconnect
        placed = [sim.place(symbol="BTC_USDT", side="buy", price="50000", size="1")["orderId"]
                  for _ in range(2)]
        daemon.wait_converged(sim)
        time.sleep(1.0)  # placed long enough ago for a trailing read to show them open
        sim.faults(push_drop=1.0)
        sim.cancel(placed[0])
        sim.fill(placed[1])
        sim.drop("abort")
        sim.faults(push_drop=0.0)
        epoch = daemon.wait_live(30, epoch_above=epoch).state["epoch"]
        daemon.wait_converged(sim, timeout=4)


def test_connections_replaced_by_age_and_at_a_shutdown_keep_the_book_live(lab: Lab) -> None:
    """Binance cuts a connection at its age (here 3 s, and the tracker told so) and after
    announcing a shutdown: the tracker subscribes the next one first, so the book stays
    live through every replacement (one splice, no reconnect) and misses no order."""
    sim = lab.sim("--binance-max-age", "3", "--binance-shutdown-delay", "1", "--rate", "20",
                  "--open-orders", "5", "--seed", "33")
    port = free_port()
    daemon = lab.daemon(sim, profile=BINANCE, env={"TRACKER_CONNECTION_MAX_AGE_S": "3",
                                                   "TRACKER_METRICS_PORT": str(port)})
    daemon.start().wait_live(60)
    time.sleep(4.0)
    sim.face("binance", "shutdown", delay_s=1.0)
    time.sleep(4.0)
    sim.flow(0)
    book = daemon.wait_converged(sim)
    assert (book.state["epoch"], book.state["reconnects"]) == (1, 0), book.state
    log = daemon.tail(2000)
    assert log.count('"stream_rotated"') >= 3 and '"stream_handover"' in log, log[-3000:]
    metrics = scrape(port)  # as the log says
    assert metrics["tracker_ws_rotations_total"] == log.count('"stream_rotated"'), metrics
    assert metrics["tracker_ws_handovers_total"] == log.count('"stream_handover"') >= 1
    assert metrics["tracker_ws_reconnects_total"] == 0
