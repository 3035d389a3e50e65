"""Any number of symbols, through the real daemon: past BitMart's 100 topics per private
connection the stream takes `ALL_SYMBOLS` and drops the other symbols' pushes, so 300
symbols go live and stay exact while the account trades symbols it does not track."""

from __future__ import annotations

from typing import Any

import pytest

from harness import Daemon, Lab, Sim, divergences, eventually, logged
from tests.test_daemon_ops import free_port, scrape
from tracker.venues.bitmart.protocol import ALL_SYMBOLS, order_topic

TRACKED = tuple(f"T{i:03d}_USDT" for i in range(300))
UNTRACKED = tuple(f"U{i}_BTC" for i in range(5))


def many_symbols_sim(lab: Lab, symbols: tuple[str, ...], *args: str) -> Sim:
    # v2 seeds symbol by symbol: the simulator's per-token limit is raised with the
    # daemon's pace, so 300 symbols seed in seconds.
    return lab.sim("--symbols", ",".join(symbols), "--v2-rate-limit", "1000", *args)


def tracking(lab: Lab, sim: Sim, symbols: tuple[str, ...], **env: str) -> Daemon:
    return lab.daemon(sim, env={"TRACKER_SYMBOLS": ",".join(symbols),
                                "TRACKER_REST_RATE": "500"} | env)


def stream_up(daemon: Daemon) -> dict[str, Any]:
    ups = logged(daemon.log, "stream_up")
    assert ups, "no stream_up line"
    return ups[-1]


def test_300_symbols_go_live_and_stay_exact_among_untracked_ones(lab: Lab) -> None:
    sim = many_symbols_sim(lab, TRACKED + UNTRACKED, "--open-orders", "2", "--seed", "11")
    port = free_port()
    daemon = tracking(lab, sim, TRACKED, TRACKER_METRICS_PORT=str(port)).start()
    book = daemon.wait_live(timeout=120)
    assert len(book.open_ids) == 600
    up = stream_up(daemon)
    assert (up["mode"], up["topics"], up["symbols"]) == ("all_symbols", 1, 300)
    [connection] = sim.stats()["connections"]
    assert connection["topics"] == [ALL_SYMBOLS]

    # Order flow on every symbol, and on the untracked ones for certain.
    sim.flow(40)
    for symbol in UNTRACKED:
        placed = sim.place(symbol=symbol, side="buy", price="99", size="1")
        sim.fill(placed["orderId"], "0.5")
    eventually(lambda: _flowed(sim), 30, "the flow to make 200 events", context=daemon.tail)
    sim.flow(0)

    def converged() -> None:
        truth = sim.truth()
        book = daemon.book()
        problems = divergences(book, truth, TRACKED)
        assert not problems, f"{len(problems)} differences: {problems[:8]}"
        foreign = [oid for oid, row in book.orders.items() if row["symbol"] not in TRACKED]
        assert not foreign, f"orders of untracked symbols in the book: {foreign[:8]}"
        assert book.state["live"] == 1

    eventually(converged, 60, "the book equals the truth for the 300", interval=0.3,
               context=daemon.tail)
    truth = sim.truth()
    assert any(o["symbol"] in UNTRACKED for o in truth.values())
    assert sum(o["symbol"] in TRACKED for o in truth.values()) > 600  # the flow reached ours
    metrics = scrape(port)
    assert metrics["tracker_pushes_ignored_total"] >= 2 * len(UNTRACKED)
    assert metrics["tracker_ws_reconnects_total"] == 0  # no limit was ever hit
    assert metrics['tracker_events_total{outcome="invalid"}'] == 0


def _flowed(sim: Sim) -> None:
    events = sim.stats()["flow_events"]
    assert events >= 200, events


@pytest.mark.parametrize(("count", "mode", "topics"), [(100, "per_symbol", 100),
                                                        (101, "all_symbols", 1)])
def test_per_symbol_topics_up_to_100_then_all_symbols(lab: Lab, count: int, mode: str,
                                                      topics: int) -> None:
    symbols = TRACKED[:count]
    sim = many_symbols_sim(lab, symbols + UNTRACKED, "--open-orders", "1")
    daemon = tracking(lab, sim, symbols).start()
    daemon.wait_live(timeout=60)
    up = stream_up(daemon)
    assert (up["mode"], up["topics"], up["symbols"]) == (mode, topics, count)
    [connection] = sim.stats()["connections"]
    expected = [order_topic(s) for s in symbols] if mode == "per_symbol" else [ALL_SYMBOLS]
    assert connection["topics"] == expected
    # Both ways, an untracked symbol's order stays out and a tracked one comes in.
    theirs = sim.place(symbol=UNTRACKED[0], side="buy", price="99", size="1")
    ours = sim.place(symbol=symbols[-1], side="buy", price="99", size="1")

    def arrived() -> None:
        book = daemon.book()
        assert ours["orderId"] in book.open_ids
        assert theirs["orderId"] not in book.orders

    eventually(arrived, 20, "the tracked order in the book", context=daemon.tail)
