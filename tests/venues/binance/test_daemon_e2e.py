"""`tracker run` with venue = "binance" against the simulator's Binance face, as real
subprocesses: the book goes live with the open orders the face holds, then follows the
stream (a new order, a fill, a cancel) and stays equal to the truth."""

from __future__ import annotations

from harness import Lab
from harness.profiles import BINANCE
from harness.waiting import eventually
from simulator.state import DEMO_ACCOUNT


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
