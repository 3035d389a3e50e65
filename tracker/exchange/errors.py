"""What can go wrong when talking to an exchange, sorted by what the caller should do;
each venue maps its own codes onto these, and each carries the `NotLive` reason it gives
the book."""

from __future__ import annotations

from tracker.reasons import NotLive


class ExchangeError(Exception):
    """Transient unless a subclass says otherwise: back off and try again."""

    retryable = True
    cause = NotLive.EXCHANGE


class Unreachable(ExchangeError):
    """No answer, or none complete in time: the network, or the exchange is down."""

    cause = NotLive.EXCHANGE_UNREACHABLE


class RateLimited(ExchangeError):
    """Refused for the rate (429, 30013): the pacer holds off before the retry."""

    cause = NotLive.RATE_LIMITED


class ClockSkew(ExchangeError):
    """Refused for the timestamp: our clock and the exchange's disagree (re-measured)."""

    cause = NotLive.CLOCK


class AuthError(ExchangeError):
    """Credentials refused. Retrying at once cannot help; the daemon backs off for long."""

    retryable = False
    cause = NotLive.CREDENTIALS


class NotFound(ExchangeError):
    """The exchange does not know the order (or does not show it yet)."""

    retryable = False


class TooLarge(ExchangeError):
    """An answer past `rest_max_bytes`: retried as any failure (an answer that never ends
    may end sooner next time), unless the caller can ask for less."""


class UnknownSymbol(ExchangeError):
    """A configured symbol the venue does not list: no retry can help, and a tracker
    started with it exits 78 (configuration) rather than keep a book that cannot be whole."""

    retryable = False


class BadResponse(ExchangeError):
    """An answer that is not what the protocol promises (wrong type, not JSON, ...)."""


class StreamError(Exception):
    """The private stream refused or broke: why, and what it means for the book."""

    def __init__(self, reason: str, *, cause: NotLive = NotLive.EXCHANGE) -> None:
        super().__init__(reason)
        self.cause = cause
