"""Hostile REST answers through the real daemon: an answer that trickles forever meets the
deadline of the whole call, an answer that never ends meets the size cap. Each is logged
and counted, the book is not called live meanwhile, and it converges once they stop."""

from __future__ import annotations

import time
from pathlib import Path

from harness import Lab, eventually, logged
from harness.profiles import BITMART_V4
from tests.test_daemon_ops import free_port, scrape


def rest_errors(port: int, kind: str) -> float:
    try:
        values = scrape(port)
    except OSError as exc:  # the daemon serves metrics a moment after it starts
        raise AssertionError(f"no metrics yet: {exc}") from None
    return values.get(f'tracker_rest_errors_total{{kind="{kind}"}}', 0.0)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_trickling_answers_meet_the_deadline_then_the_book_converges(lab: Lab) -> None:
    sim = lab.sim("--open-orders", "8", "--seed", "21", "--faults",
                  '{"rest_trickle_ms": 2000}')
    port = free_port()
    daemon = lab.daemon(sim, env={"TRACKER_REST_TIMEOUT": "2",
                                  "TRACKER_METRICS_PORT": str(port)}).start()

    def deadlines_counted() -> None:
        assert logged(daemon.log, "rest_deadline"), "no rest_deadline line yet"
        assert rest_errors(port, "deadline") >= 2

    eventually(deadlines_counted, 30, "deadlines logged and counted", context=daemon.tail)
    late = logged(daemon.log, "rest_deadline")[0]
    assert late["deadline_s"] == 2 and late["level"] == "warning", late
    assert daemon.book().state["live"] == 0
    assert sim.stats()["injected"]["rest_trickle"] >= 2
    sim.faults(rest_trickle_ms=0)
    daemon.wait_live(30)
    daemon.wait_converged(sim, 30)


def test_endless_answers_are_cut_at_the_cap_then_the_book_converges(lab: Lab) -> None:
    sim = lab.sim("--open-orders", "8", "--seed", "22", "--faults", '{"rest_endless": true}')
    port = free_port()
    daemon = lab.daemon(sim, profile=BITMART_V4, env={"TRACKER_METRICS_PORT": str(port)}).start()
    peak = 0.0

    def refusals_counted() -> None:
        nonlocal peak
        peak = max(peak, rss_mb(daemon.pid))
        assert rest_errors(port, "too_large") >= 4

    # Every refusal read 16 MiB (rest_max_bytes' default) at loopback speed first.
    eventually(refusals_counted, 40, "four answers refused", interval=0.05,
               context=daemon.tail)
    end = time.monotonic() + 2
    while time.monotonic() < end:
        peak = max(peak, rss_mb(daemon.pid))
        time.sleep(0.05)
    assert peak < 250, f"RSS reached {peak:.0f} MB"
    refused = logged(daemon.log, "rest_too_large")
    assert refused and refused[0]["max_bytes"] == 16 << 20 and refused[0]["level"] == "warning"
    assert daemon.book().state["live"] == 0
    sim.faults(rest_endless=False)
    daemon.wait_live(30)
    daemon.wait_converged(sim, 30)
