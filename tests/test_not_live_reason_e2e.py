"""Why the book is not live, classified, through the real daemon: the same reason in
`sync_state.not_live_reason`, in `tracker status`, and in the metric, for refused
credentials, an unreachable exchange, a rate limit and a clock the exchange refuses."""

from __future__ import annotations

from typing import Any

import pytest

from harness import Lab, eventually
from tests.test_daemon_ops import free_port, scrape

NOWHERE = free_port()  # nothing listens there


@pytest.mark.parametrize(("reason", "words", "sim_args", "env"), [
    ("credentials_refused", "check api_secret and api_memo", (),
     {"TRACKER_API_SECRET": "0" * 32}),
    ("exchange_unreachable", "exchange unreachable", (),
     {"TRACKER_REST_URL": f"http://127.0.0.1:{NOWHERE}",
      "TRACKER_WS_URL": f"ws://127.0.0.1:{NOWHERE}/user?protocol=1.1"}),
    ("rate_limited", "rate limited", ("--faults", '{"rest_429": 1.0}'), {}),
    # login refused for the timestamp (91022), and the clock cannot be re-measured
    ("clock_skew", "clock skew", ("--faults", '{"clock_skew_ms": 120000, "rest_5xx": 1.0}'),
     {}),
], ids=lambda v: v if isinstance(v, str) and v.isidentifier() else "")
def test_the_reason_the_book_is_not_live_is_said_everywhere(
        lab: Lab, reason: str, words: str, sim_args: tuple[str, ...],
        env: dict[str, str]) -> None:
    port = free_port()
    sim = lab.sim("--open-orders", "3", "--seed", "29", *sim_args)
    daemon = lab.daemon(sim, env={"TRACKER_METRICS_PORT": str(port)} | env).start()

    def classified() -> dict[str, Any]:
        code, status = daemon.status()
        assert code == 1 and status["not_live_reason"] == reason, (code, status)
        assert status["status"].startswith(words) or words in status["status"], status
        metric = scrape(port)
        assert metric[f'tracker_not_live_reason{{reason="{reason}"}}'] == 1
        assert sum(v for k, v in metric.items()
                   if k.startswith("tracker_not_live_reason")) == 1
        return status

    eventually(classified, 30, f"the book says it is not live: {reason}", interval=0.3,
               context=daemon.tail)
    assert daemon.alive()


def test_a_live_book_has_no_reason(lab: Lab) -> None:
    port = free_port()
    sim = lab.sim("--open-orders", "3", "--seed", "31")
    daemon = lab.daemon(sim, env={"TRACKER_METRICS_PORT": str(port)}).start()
    assert daemon.wait_live().state["not_live_reason"] is None
    metric = eventually(lambda: _live_metric(port), 10, "the metric agrees")
    assert all(v == 0 for k, v in metric.items() if k.startswith("tracker_not_live_reason"))


def _live_metric(port: int) -> dict[str, float]:
    metric = scrape(port)
    assert metric["tracker_book_live"] == 1
    return metric
