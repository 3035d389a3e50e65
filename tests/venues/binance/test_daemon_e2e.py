"""`tracker run` with venue = "binance" against the simulator's Binance face, as real
subprocesses: the book goes live with the open orders the face holds, then follows the
stream (a new order, a fill, a cancel) and stays equal to the truth."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from harness import Lab
from harness.profiles import Profile
from harness.sim import Sim
from harness.waiting import eventually
from simulator.state import DEMO_ACCOUNT


def _keys(account: Any) -> dict[str, str]:
    return {"TRACKER_API_KEY": account.api_key, "TRACKER_API_SECRET": account.secret}


BINANCE = Profile("binance", "binance", {}, "v3", "seed", "detail", _keys)
SYMBOLS = {"BTC_USDT": "BTCUSDT", "ETH_USDT": "ETHUSDT", "BMX_ETH": "BMXETH"}


def truth(sim: Sim) -> dict[str, tuple[str, str]]:
    """The simulator's open orders, with the book's ids and the (state, filled) it says."""
    return {f"{SYMBOLS[o['symbol']]}:{o['orderId']}": (o["state"], o["filledSize"])
            for o in sim.open_truth()}


def test_the_book_follows_the_binance_face(lab: Lab) -> None:
    sim = lab.sim()
    for symbol, price in (("BTC_USDT", "60000"), ("BTC_USDT", "60100"), ("ETH_USDT", "3000"),
                          ("BMX_ETH", "0.5")):
        sim.place(symbol=symbol, side="buy", price=price, size="1")
    daemon = lab.daemon(sim, profile=BINANCE, env={
        "TRACKER_SYMBOLS": "BTCUSDT,ETHUSDT", "TRACKER_WS_URL": sim.ws_urls["binance"],
        "TRACKER_RECONCILE_INTERVAL": "0"}).start()
    book = daemon.wait_live(60)
    assert book.state["api"] == "v3"
    wanted = {k: v for k, v in truth(sim).items() if not k.startswith("BMXETH:")}
    assert wanted and book.open_ids == set(wanted)

    placed = sim.place(symbol="BTC_USDT", side="sell", price="61000", size="0.3")
    oid = f"BTCUSDT:{placed['orderId']}"
    eventually(lambda: oid in daemon.book().open_ids, 20, "the new order is in the book")
    sim.fill(placed["orderId"], "0.1")

    def partly() -> None:
        row = daemon.book().orders[oid]
        assert (row["state"], row["filled_size"], row["source"]) == (
            "partially_filled", "0.10000000", "push"), row
    eventually(partly, 20, "the fill is in the book")
    sim.cancel(placed["orderId"])

    def canceled() -> None:
        assert daemon.book().orders[oid]["state"] == "partially_canceled"
    eventually(canceled, 20, "the cancel is in the book")

    def equal() -> None:
        book = daemon.book()
        now = {k: v for k, v in truth(sim).items() if not k.startswith("BMXETH:")}
        assert book.open_ids == set(now)
        for key, (state, filled) in now.items():
            assert book.orders[key]["state"] == state
            assert Decimal(book.orders[key]["filled_size"]) == Decimal(filled)
    eventually(equal, 20, "the book equals the truth")
    assert DEMO_ACCOUNT.secret not in daemon.tail(400)
