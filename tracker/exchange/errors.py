"""What can go wrong when talking to the exchange, sorted by what the caller should do."""

from __future__ import annotations

from tracker.venues.bitmart import protocol as p

# Why the book is not live, as an operator would sort it (sync_state.not_live_reason, the
# status line, systemd's STATUS=, the tracker_not_live_reason metric).
CREDENTIALS = "credentials_refused"
UNREACHABLE = "exchange_unreachable"
RATE_LIMITED = "rate_limited"
CLOCK = "clock_skew"
EXCHANGE = "exchange_error"  # it answered, but not with what it should have


class ExchangeError(Exception):
    """Transient unless a subclass says otherwise: back off and try again."""

    retryable = True
    cause = EXCHANGE


class Unreachable(ExchangeError):
    """No answer, or none complete in time: the network, or the exchange is down."""

    cause = UNREACHABLE


class RateLimited(ExchangeError):
    """Refused for the rate (429, 30013): the pacer holds off before the retry."""

    cause = RATE_LIMITED


class ClockSkew(ExchangeError):
    """Refused for the timestamp: our clock and the exchange's disagree (re-measured)."""

    cause = CLOCK


class AuthError(ExchangeError):
    """Credentials refused. Retrying at once cannot help; the daemon backs off for long."""

    retryable = False
    cause = CREDENTIALS


class NotFound(ExchangeError):
    """The exchange does not know the order (or does not show it yet)."""

    retryable = False


class BadResponse(ExchangeError):
    """An answer that is not what the protocol promises (wrong type, not JSON, ...)."""


# The likely cause of each credential refusal, for the one line an operator reads: the
# exchange's own messages ("sign wrong") do not say which setting to look at.
_SIGNATURE = "check api_secret and api_memo (the signature is made from both)"
_KEY_EMPTY = "the API key is empty: set api_key"
_KEY_UNKNOWN = "the exchange does not know this API key: check api_key"
_KEY_FROZEN = "the API key is frozen: unfreeze it, or use another, on the exchange"
_KEY_EXPIRED = "the API key has expired: create a new one on the exchange"
_SIGN_EMPTY = f"the signature is empty: {_SIGNATURE}"
_SIGN_WRONG = f"the signature is wrong: {_SIGNATURE}"
# Keyed by the code as text: the WebSocket sends strings, v4 REST numbers.
CREDENTIAL_HINTS = {
    # private WebSocket login
    p.WS_KEY_EMPTY: _KEY_EMPTY,
    p.WS_KEY_UNKNOWN: _KEY_UNKNOWN,
    p.WS_KEY_FROZEN: _KEY_FROZEN,
    p.WS_KEY_EXPIRED: _KEY_EXPIRED,
    p.WS_SIGN_EMPTY: _SIGN_EMPTY,
    p.WS_SIGN_WRONG: _SIGN_WRONG,
    # v4 REST
    str(p.V4_KEY_EMPTY): _KEY_EMPTY,
    str(p.V4_KEY_UNKNOWN): _KEY_UNKNOWN,
    str(p.V4_KEY_FROZEN): _KEY_FROZEN,
    str(p.V4_SIGN_EMPTY): _SIGN_EMPTY,
    str(p.V4_SIGN_WRONG): _SIGN_WRONG,
    str(p.V4_IP_FORBIDDEN): "this IP is not on the API key's whitelist: add it on the exchange",
    str(p.V4_KEY_EXPIRED): _KEY_EXPIRED,
    str(p.V4_KEY_FORBIDDEN): "the API key is forbidden: check its status on the exchange",
    str(p.V4_NO_PERMISSION): "the API key lacks a permission this call needs: give it read "
                             "access",
}


def credential_hint(code: object) -> str:
    return CREDENTIAL_HINTS.get(str(code), "check api_key, api_secret and api_memo, and the "
                                           "key's permissions (read) on the exchange")
