"""The optional Prometheus endpoint, on 127.0.0.1 only.

Values are read from one `Health` snapshot at scrape time, so there is no second set of
counters to keep in step and one scrape never mixes two instants. Times are exported as
Unix timestamps, not ages: a stuck updater then cannot look fresh (compute `time() - x` in
PromQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tracker.health import Health
from tracker.reasons import NotLive


def _seconds(ms: int | None) -> float:
    return (ms or 0) / 1000


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"tracker_{name}", doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"tracker_{name}", doc, value=value)


def _labelled(kind: type[Metric], name: str, doc: str, label: str,
              values: dict[str, float]) -> Metric:
    family = kind(f"tracker_{name}", doc, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)  # type: ignore[attr-defined]
    return family


ROLES = ("active", "standby")


def role(now: str) -> Metric:
    """1 for what this tracker is for its book: the writer, or a standby waiting for the
    account's lock (PostgreSQL)."""
    return _labelled(GaugeMetricFamily, "role", "1 for this tracker's role: active (writes "
                     "the book) or standby (waits for the account's lock)", "role",
                     {r: float(r == now) for r in ROLES})


def families(h: Health) -> Iterator[Metric]:
    """Every metric of one snapshot."""
    yield role("active")
    yield _gauge("book_live", "1 while the book is exact and the writer commits (a commit "
                 "within 5 s)", float(h.current))
    yield _labelled(GaugeMetricFamily, "not_live_reason", "1 for why the book is not live "
                    "now (all 0 while it is live)", "reason",
                    {reason.value: float(reason == h.not_live_reason) for reason in NotLive})
    yield _gauge("ws_connected", "1 while the private stream is up", float(h.connected))
    yield _gauge("open_orders", "open orders in the book", h.open_orders)
    yield _gauge("orders_held", "orders held in memory: the open ones and those closed "
                 "within closed_in_memory", h.orders_held)
    yield _counter("orders_recalled", "closed orders read back from the book because the "
                   "exchange spoke of them again", h.orders_recalled)
    yield _gauge("unresolved_orders", "vanished orders whose fate is unknown",
                 h.unresolved_orders)
    yield _gauge("event_queue_depth", "events waiting for the writer", h.queue_depth)
    yield _counter("events_dropped", "events shed because the writer fell queue_max behind",
                   h.events_dropped)
    yield _gauge("last_commit_age_seconds", "seconds since the writer last committed",
                 h.last_commit_age_s)
    yield _counter("seed_deadlines", "seeds abandoned at seed_timeout", h.seed_deadlines)
    yield _gauge("last_event_timestamp_seconds", "when the last push was applied",
                 _seconds(h.last_event_ms))
    yield _gauge("last_seed_timestamp_seconds", "when the last splice completed",
                 _seconds(h.last_seed_ms))
    yield _gauge("db_wal_bytes", "size of the SQLite write-ahead log", h.wal_bytes)
    yield _counter("db_wal_restarts", "times the writer brought a large WAL back to its start",
                   h.wal_restarts)
    yield _counter("journal_pruned", "journal rows deleted by journal_keep_days",
                   h.journal_pruned)
    yield _gauge("feed_readers", "readers connected to the SQLite book's change feed",
                 h.feed_readers)
    yield _labelled(CounterMetricFamily, "feed_closed", "change feed connections the daemon "
                    "ended: readers_max (refused: the feed had as many readers as it takes), "
                    "sent (the reader sent bytes), backlog (it left 64 KiB unread)", "reason",
                    dict(h.feed_closed))
    yield _labelled(CounterMetricFamily, "events", "updates by outcome", "outcome",
                    {k: h.outcomes[k] for k in ("applied", "duplicate", "stale", "invalid")})
    yield _counter("ws_reconnects", "stream reconnects", h.reconnects)
    yield _counter("ws_rotations", "connections replaced with the next one subscribed first "
                   "(at the venue's age limit or its notice): the book stays live", h.rotations)
    yield _counter("ws_rotation_failures", "replacements that failed (the old connection "
                   "goes on until the venue cuts it)", h.rotation_failures)
    yield _counter("ws_handovers", "the venue's notices that it will close a connection "
                   "(Binance serverShutdown, OKX 64008)", h.handovers)
    yield _counter("pushes_ignored", "pushed orders of symbols not configured, dropped",
                   h.pushes_ignored)
    yield _counter("splices", "completed splices", h.splices)
    yield _counter("vanished_resolved", "vanished orders resolved by order detail",
                   h.outcomes["resolved"])
    yield _counter("rest_calls", "REST calls sent", h.rest_calls)
    yield _labelled(CounterMetricFamily, "rest_errors", "REST failures by kind", "kind",
                    dict(h.rest_errors))


class HealthCollector(Collector):
    def __init__(self, health: Callable[[], Health]) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        return families(self.health())


class StandbyCollector(Collector):
    """What a standby has to say: its role, and that the book is not its to vouch for."""

    def collect(self) -> Iterator[Metric]:
        yield role("standby")


def serve_standby(port: int) -> Callable[[], None]:
    return _serve(port, StandbyCollector())


def serve(health: Callable[[], Health], port: int, *more: Collector) -> Callable[[], None]:
    """Serve /metrics on 127.0.0.1:port from a daemon thread (prometheus-client's own);
    `more` adds collectors that keep their own state (the commit-time histogram). Returns
    what closes the port again (a standby that took over serves its own figures)."""
    return _serve(port, HealthCollector(health), *more)


def _serve(port: int, *collectors: Collector) -> Callable[[], None]:
    registry = CollectorRegistry(auto_describe=True)
    for collector in collectors:
        registry.register(collector)
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)

    def close() -> None:
        server.shutdown()
        server.server_close()

    return close
