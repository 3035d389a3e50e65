"""The optional Prometheus endpoint, on 127.0.0.1 only.

Values are read from the running tracker at scrape time, so there is no second set of
counters to keep in step. Times are exported as Unix timestamps, not ages: a stuck updater
then cannot look fresh (compute `time() - x` in PromQL).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tracker.sync import NOT_LIVE

if TYPE_CHECKING:
    from tracker.sync import Tracker


def _seconds(ms: int | None) -> float:
    return (ms or 0) / 1000


class TrackerCollector(Collector):
    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def collect(self) -> Iterator[Metric]:
        t = self.tracker
        status = t.status

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"tracker_{name}", doc, value=value)

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"tracker_{name}", doc, value=value)

        yield gauge("book_live", "1 while the book is exact and the writer commits (a commit "
                    "within 5 s)", float(t.current))
        reasons = GaugeMetricFamily("tracker_not_live_reason", "1 for why the book is not "
                                    "live now (all 0 while it is live)", labels=["reason"])
        now = t.reason_now
        for reason in NOT_LIVE:
            reasons.add_metric([reason], float(reason == now))
        yield reasons
        yield gauge("ws_connected", "1 while the private stream is up",
                    float(status.connected))
        yield gauge("open_orders", "open orders in the book", status.open_orders)
        yield gauge("unresolved_orders", "vanished orders whose fate is unknown",
                    len(t.unresolved))
        yield gauge("event_queue_depth", "events waiting for the writer", t.queue.qsize())
        yield counter("events_dropped", "events shed because the writer fell queue_max behind",
                      t.queue.dropped)
        yield gauge("last_commit_age_seconds", "seconds since the writer last committed",
                    time.monotonic() - t.store.committed_at)
        yield counter("seed_deadlines", "seeds abandoned at seed_timeout", t.seed_deadlines)
        yield gauge("last_event_timestamp_seconds", "when the last push was applied",
                    _seconds(t.last_event_ms))
        yield gauge("last_seed_timestamp_seconds", "when the last splice completed",
                    _seconds(t.last_seed_ms))
        yield gauge("db_wal_bytes", "size of the SQLite write-ahead log", _wal_size(t))
        yield counter("db_wal_restarts", "times the writer brought a large WAL back to its start",
                      t.store.wal_restarts)
        yield counter("journal_pruned", "journal rows deleted by journal_keep_days",
                      t.store.pruned)
        events = CounterMetricFamily("tracker_events", "updates by outcome",
                                     labels=["outcome"])
        for outcome in ("applied", "duplicate", "stale", "invalid"):
            events.add_metric([outcome], status.counts[outcome])
        yield events
        yield counter("ws_reconnects", "stream reconnects", t.stream.reconnects)
        yield counter("pushes_ignored", "pushed orders of symbols not configured, dropped",
                      t.stream.stats["ignored"])
        yield counter("splices", "completed splices", t.splices)
        yield counter("vanished_resolved", "vanished orders resolved by order detail",
                      status.counts["resolved"])
        yield counter("rest_calls", "REST calls sent", t.rest.stats["calls"])
        errors = CounterMetricFamily("tracker_rest_errors", "REST failures by kind",
                                     labels=["kind"])
        for key, value in sorted(t.rest.stats.items()):
            if key.startswith("errors_"):
                errors.add_metric([key.removeprefix("errors_")], value)
        yield errors
        yield from t.store.commit_seconds.collect()


def _wal_size(tracker: Tracker) -> float:
    try:
        return float(os.stat(f"{tracker.store.path}-wal").st_size)
    except OSError:
        return 0.0


def serve(tracker: Tracker, port: int) -> None:
    """Serve /metrics on 127.0.0.1:port from a daemon thread (prometheus-client's own)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(TrackerCollector(tracker))
    start_http_server(port, addr="127.0.0.1", registry=registry)
