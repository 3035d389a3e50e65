"""What can go wrong when talking to the exchange, sorted by what the caller should do."""

from __future__ import annotations


class ExchangeError(Exception):
    """Transient unless a subclass says otherwise: back off and try again."""

    retryable = True


class AuthError(ExchangeError):
    """Credentials refused. Retrying at once cannot help; the daemon backs off for long."""

    retryable = False


class NotFound(ExchangeError):
    """The exchange does not know the order (or does not show it yet)."""

    retryable = False


class BadResponse(ExchangeError):
    """An answer that is not what the protocol promises (wrong type, not JSON, ...)."""
