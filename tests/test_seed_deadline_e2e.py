"""A seed whose every page answers in time can still take for ever: `seed_timeout` bounds
one symbol's whole seed, through the real daemon against a slow simulator."""

from __future__ import annotations

from harness import Lab, eventually
from tests.test_daemon_ops import free_port, scrape


def test_a_seed_past_seed_timeout_is_abandoned_logged_counted_and_retried(lab: Lab) -> None:
    port = free_port()
    # 30 orders a symbol in pages of 5, each answer 400 ms late: well within rest_timeout,
    # but some 15 pages a symbol take about 6 s, three times the seed's deadline.
    sim = lab.sim("--open-orders", "30", "--seed", "23",
                  "--faults", '{"rest_slow_ms": 400}')
    daemon = lab.daemon(sim, env={"TRACKER_SEED_TIMEOUT": "2", "TRACKER_PAGE_SIZE": "5",
                                  "TRACKER_METRICS_PORT": str(port)}).start()

    def abandoned() -> None:
        assert '"seed_deadline"' in daemon.log.read_text()
        assert scrape(port)["tracker_seed_deadlines_total"] >= 1
        code, status = daemon.status()
        assert code == 1 and status["live"] == 0, (code, status)
        assert "took longer than seed_timeout (2 s)" in status["status"], status["status"]

    eventually(abandoned, 30, "the seed is abandoned at its deadline", interval=0.3,
               context=daemon.tail)
    sim.faults(rest_slow_ms=0)
    daemon.wait_live(timeout=60)
    daemon.wait_converged(sim)
