"""The daemon lets closed orders go from memory and reads them back when the exchange speaks
of them again, on either backend: late duplicates of closing pushes arrive after their
orders were let go, none reopens an order, the book ends equal to the exchange, and a
restart holds only the open orders."""

from __future__ import annotations

import signal
from collections import defaultdict
from typing import Any

from harness import Lab, eventually
from harness.books import BookUnderTest
from harness.postgres import free_port
from tests.test_daemon_ops import scrape

OPEN = ("new", "partially_filled")


def reopened(journal: list[dict[str, Any]]) -> list[str]:
    """Orders with an applied open state after an applied closed one: what a late update
    merged as if its order were new would leave behind."""
    closed: set[str] = set()
    found = []
    for row in sorted(journal, key=lambda r: r["seq"]):
        if row["outcome"] != "applied":
            continue
        if row["state"] in OPEN:
            if row["order_id"] in closed:
                found.append(row["order_id"])
        else:
            closed.add(row["order_id"])
    return found


def test_late_pushes_for_orders_let_go_are_read_back_and_restart_holds_the_open_set(
        lab: Lab, store: BookUnderTest) -> None:
    port = free_port()
    sim = lab.sim("--open-orders", "30", "--rate", "60", "--seed", "21")
    daemon = lab.daemon(sim, store=store, env={
        "TRACKER_CLOSED_IN_MEMORY": "0.3", "TRACKER_METRICS_PORT": str(port)}).start()
    daemon.wait_live()
    # Each push is sent late by up to 3 s and half are sent twice: a repeat of a fill or a
    # cancel often lands well after its order was closed, written and let go.
    sim.faults(push_duplicate=0.5, push_delay_ms=3000)

    def read_back() -> dict[str, float]:
        values = scrape(port)
        assert values["tracker_orders_recalled_total"] >= 10, values
        return values

    eventually(read_back, 60, "closed orders read back for late pushes",
               context=daemon.tail)
    sim.flow(0)
    sim.faults(push_duplicate=0.0, push_delay_ms=0)
    book = daemon.wait_converged(sim)
    journal = daemon.journal()
    assert not reopened(journal)
    outcomes: defaultdict[str, int] = defaultdict(int)
    for row in journal:
        outcomes[row["outcome"]] += 1
    assert outcomes["duplicate"] + outcomes["stale"] >= 10, outcomes

    def only_open_held() -> None:
        values = scrape(port)
        assert values["tracker_orders_held"] == values["tracker_open_orders"], values

    eventually(only_open_held, 10, "memory holds only the open orders once all is quiet")
    closed = sum(1 for o in book.orders.values() if o["state"] not in OPEN)
    assert closed >= 20, "too few closed orders for the test to mean anything"

    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    daemon.start()
    daemon.wait_live(epoch_above=book.state["epoch"])
    values = eventually(lambda: scrape(port), 10, "metrics after the restart")
    assert values["tracker_orders_held"] == values["tracker_open_orders"] == len(
        [o for o in daemon.book().orders.values() if o["state"] in OPEN])
    daemon.wait_converged(sim)
