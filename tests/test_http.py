"""`tracker.exchange.http.parse_json`: every body `json.loads` cannot read is the same
clear `BadResponse`, never another exception that a caller would log as a crash."""

from __future__ import annotations

import httpx
import pytest

from tracker.exchange.errors import BadResponse
from tracker.exchange.http import Answer, parse_json

LONG_INTEGER = b'[{"orderId": 1' + b"0" * 5000 + b"}]"  # past Python's 4,300 digits
DEEP = b"[" * 100_000  # past json's recursion


@pytest.mark.parametrize("body", [b"{not json", bytes([0xFF, 0xFE]), LONG_INTEGER, DEEP])
def test_a_body_json_cannot_read_is_a_bad_response(body: bytes) -> None:
    with pytest.raises(BadResponse, match="HTTP 200: body is not JSON"):
        parse_json(Answer(200, httpx.Headers(), body))


def test_json_is_read() -> None:
    assert parse_json(Answer(200, httpx.Headers(), b'[{"a": "1.5"}]')) == [{"a": "1.5"}]
