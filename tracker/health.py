"""What the running tracker says about itself at one instant: one snapshot, taken in one
place, that the metrics endpoint reads instead of reaching into the tracker's parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Health:
    current: bool  # live, and the writer committed within STALE_AFTER_SECONDS
    not_live_reason: str | None  # a `NotLive` reason; None while current
    connected: bool
    open_orders: int
    orders_held: int  # rows in memory: the open orders and those closed lately
    orders_recalled: int  # closed orders read back from the book for a late update
    unresolved_orders: int
    queue_depth: int
    events_dropped: int
    last_commit_age_s: float
    seed_deadlines: int
    last_event_ms: int | None
    last_seed_ms: int | None
    wal_bytes: int
    wal_restarts: int
    journal_pruned: int
    feed_readers: int
    feed_closed: Mapping[str, int]  # by reason: readers_max, sent, backlog
    outcomes: Mapping[str, int]  # applied, duplicate, stale, invalid, resolved
    reconnects: int
    # Connections replaced with the next one subscribed first (at the venue's age limit or
    # its notice), replacements that failed (the old one goes on), and such notices.
    rotations: int
    rotation_failures: int
    handovers: int
    pushes_ignored: int
    splices: int
    rest_calls: int
    rest_errors: Mapping[str, int]  # by kind
