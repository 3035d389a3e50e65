"""The failover soak's short run: two seeded scenarios of an active and a hot standby on one
PostgreSQL account, under SIGKILLs, cut connections and server crashes, must end with no
failure, and a standby must have taken over at least once (the long run is
`python -m bench.failover --scenarios 50 --seed 1 --jobs 2`)."""

from __future__ import annotations

from bench.failover import soak, totals


def test_two_short_failover_scenarios_end_with_one_writer_and_the_truth() -> None:
    lines: list[str] = []
    results = soak(2, seed=4100, jobs=2, length=8.0, out=lines.append)
    print("\n".join(lines))
    summary = totals(results)
    assert summary["scenarios"] == 2
    assert summary["failed"] == 0, "\n".join(lines)
    assert summary["divergent"] == summary["lost"] == summary["doubled"] == 0
    assert summary["two_writers"] == summary["unexpected_exits"] == summary["errors"] == 0
    # The lock was really watched, and a standby really took over.
    assert summary["lock_samples"] > 0
    assert summary["takeovers"] >= 1
    assert summary["faults"]["kill_active"] + summary["faults"]["cut_active"] >= 1
