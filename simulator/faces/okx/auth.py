"""OKX's request security, as its face checks it: the four `OK-ACCESS-*` headers, the
passphrase, the signature over timestamp + METHOD + requestPath (with its query, as sent)
+ body, the timestamp within 30 s of the server's clock, and the `x-simulated-trading`
flag ([OKX] #overview-rest-authentication; docs/okx.md). And the same for the private
WebSocket's login ([OKX] #overview-websocket-login).

The REST refusals come with HTTP 401, as OKX's do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.faces.okx.venue import Venue
from simulator.state import AccountState
from tracker.venues.okx import protocol, signing

# The codes OKX names for each missing or wrong header ([OKX] #error-code-rest-api-public),
# which `protocol` counts among CREDENTIAL_CODES without naming each.
KEY_MISSING, PASSPHRASE_MISSING, PASSPHRASE_WRONG = "50103", "50104", "50105"
SIGN_MISSING, TIMESTAMP_MISSING = "50106", "50107"
KEY_INVALID, TIMESTAMP_INVALID = "50111", "50112"


class Refused(Exception):
    """A call OKX refuses: HTTP status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _unauthorized(code: str, message: str) -> Refused:
    return Refused(401, code, message)


def _known(code: str) -> Refused:
    """A 401 with the message OKX writes beside that code."""
    return _unauthorized(code, protocol.MESSAGES[code])


def parse_iso(stamp: str) -> int | None:
    """Epoch ms of an `OK-ACCESS-TIMESTAMP` (`2020-12-08T09:08:57.715Z`), None if it is
    not one."""
    if not stamp.endswith("Z") or "T" not in stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp[:-1] + "+00:00")
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


def _signed(account: AccountState, prehash: str, signature: str) -> bool:
    return signature.isascii() and signing.verify(account.credentials.secret, prehash,
                                                  signature)


def check_rest(venue: Venue, headers: Any, method: str, request_path: str,
               body: str) -> AccountState:
    """The account a REST call is signed by, or the refusal OKX would answer."""
    flag = headers.get(protocol.SIMULATED_HEADER)
    if flag is not None and flag not in (protocol.DEMO_FLAG, protocol.LIVE_FLAG):
        raise _known(protocol.KEY_ENVIRONMENT)
    values = {name: headers.get(name, "") for name in (
        protocol.ACCESS_KEY, protocol.ACCESS_SIGN, protocol.ACCESS_TIMESTAMP,
        protocol.ACCESS_PASSPHRASE)}
    for name, code in ((protocol.ACCESS_KEY, KEY_MISSING),
                       (protocol.ACCESS_PASSPHRASE, PASSPHRASE_MISSING),
                       (protocol.ACCESS_SIGN, SIGN_MISSING),
                       (protocol.ACCESS_TIMESTAMP, TIMESTAMP_MISSING)):
        if not values[name]:
            raise _unauthorized(code, f"Request header {name} can not be empty.")
    account = venue.account_by_key(values[protocol.ACCESS_KEY])
    if account is None:
        raise _known(KEY_INVALID)
    if values[protocol.ACCESS_PASSPHRASE] != account.credentials.passphrase:
        raise _known(PASSPHRASE_WRONG)
    stamp = values[protocol.ACCESS_TIMESTAMP]
    sent_ms = parse_iso(stamp)
    if sent_ms is None:
        raise _unauthorized(TIMESTAMP_INVALID, f"Invalid {protocol.ACCESS_TIMESTAMP}.")
    if abs(venue.sim.now_ms() - sent_ms) > protocol.CLOCK_TOLERANCE_S * 1000:
        raise _known(protocol.TIMESTAMP_EXPIRED)
    prehash = signing.rest_prehash(stamp, method, request_path, body)
    if not _signed(account, prehash, values[protocol.ACCESS_SIGN]):
        raise _known(protocol.INVALID_SIGNATURE)
    return account


def login_failed() -> Refused:
    return Refused(400, protocol.WS_LOGIN_FAILED, protocol.WS_MESSAGES[protocol.WS_LOGIN_FAILED])


def check_login(venue: Venue, args: Any) -> AccountState:
    """The account a login's args name, or a refusal: a timestamp that is not Unix seconds
    (60004), older than 30 s (60006), or a key, passphrase or signature that does not hold
    (60009, "Login failed.", as OKX answers a bad signature)."""
    if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
        raise Refused(400, protocol.WS_INVALID_REQUEST, "Invalid request: login takes one "
                                                        "argument.")
    arg = args[0]
    fields = {name: arg.get(name) for name in ("apiKey", "passphrase", "timestamp", "sign")}
    if isinstance(fields["timestamp"], int) and not isinstance(fields["timestamp"], bool):
        # The official SDK (python-okx, WsUtils.initLoginParams) sends a JSON number.
        fields["timestamp"] = str(fields["timestamp"])
    if not all(isinstance(value, str) and value for value in fields.values()):
        raise login_failed()
    stamp = fields["timestamp"]
    if not (stamp.isascii() and stamp.isdigit()):
        raise Refused(400, protocol.WS_INVALID_TIMESTAMP, "Invalid timestamp.")
    now_s = venue.sim.now_ms() / 1000
    if abs(now_s - int(stamp)) > protocol.WS_LOGIN_EXPIRES_S:
        raise Refused(400, protocol.WS_TIMESTAMP_EXPIRED, "Timestamp request expired.")
    account = venue.account_by_key(fields["apiKey"])
    prehash = signing.rest_prehash(stamp, protocol.WS_LOGIN_METHOD, protocol.WS_LOGIN_PATH)
    if account is None or fields["passphrase"] != account.credentials.passphrase \
            or not _signed(account, prehash, fields["sign"]):
        raise login_failed()
    return account
