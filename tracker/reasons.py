"""Why the book is not live: one vocabulary for `sync_state.not_live_reason`, the status
line, systemd's STATUS=, the `tracker_not_live_reason` metric and every exchange error's
`cause`, so that a reader's program and a person see the same reason."""

from __future__ import annotations

from enum import StrEnum


class NotLive(StrEnum):
    STARTING = "starting"
    SPLICING = "splicing"
    CREDENTIALS = "credentials_refused"
    EXCHANGE_UNREACHABLE = "exchange_unreachable"
    RATE_LIMITED = "rate_limited"
    CLOCK = "clock_skew"
    EXCHANGE = "exchange_error"  # it answered, but not with what it should have
    DISCONNECTED = "disconnected"  # the exchange closed a working connection: reconnect
    DATABASE_UNWRITABLE = "database_unwritable"
    DATABASE_UNREACHABLE = "database_unreachable"  # a server the writer lost its link to
    QUEUE_OVERFLOW = "queue_overflow"
    STOPPED = "stopped"

    @property
    def words(self) -> str:
        """How the status line says it."""
        return WORDS[self]


WORDS = {
    NotLive.STARTING: "starting",
    NotLive.SPLICING: "splicing",
    NotLive.CREDENTIALS: "credentials refused",
    NotLive.EXCHANGE_UNREACHABLE: "exchange unreachable",
    NotLive.RATE_LIMITED: "rate limited",
    NotLive.CLOCK: "clock skew",
    NotLive.EXCHANGE: "exchange error",
    NotLive.DISCONNECTED: "disconnected",
    NotLive.DATABASE_UNWRITABLE: "database unwritable",
    NotLive.DATABASE_UNREACHABLE: "database unreachable",
    NotLive.QUEUE_OVERFLOW: "events dropped",
    NotLive.STOPPED: "stopped",
}
