"""No secret reaches the logs, whichever path it takes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from tracker import logs

KEY, SECRET, MEMO = "KEY-0123456789abcdef", "SECRET-fedcba9876543210", "memo-xyzzy"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure() binds the root logger to this test's captured stderr, which pytest
    closes afterwards: later tests must not log into a closed file."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_secrets_never_reach_json_logs(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("debug", "json", (KEY, SECRET, MEMO))
    log = structlog.get_logger("tracker.test")
    log.info("login", api_key=KEY, headers={"X-BM-SIGN": "abc", "Authorization": "Bearer t"})
    log.info("oops", detail=f"request failed with secret={SECRET} and memo: {MEMO}")
    logging.getLogger("tracker.other").warning("url was ?signature=%s&x=1", "deadbeef")
    logging.getLogger("httpx").warning("HTTP Request: GET /v2/orders?token=%s", SECRET)

    def leaky() -> None:
        api_secret = SECRET  # a local that a traceback with locals would print
        raise RuntimeError(f"boom {api_secret[:3]}")

    try:
        leaky()
    except RuntimeError:
        log.exception("failed")
    out = capsys.readouterr().err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 5
    assert lines[0]["api_key"] == "***" and lines[0]["headers"]["Authorization"] == "***"
    assert "signature=***" in lines[2]["event"]
    assert lines[4]["exception"][0]["exc_type"] == "RuntimeError"
    for secret in (KEY, SECRET, MEMO, "deadbeef"):
        assert secret not in out
    # httpx's own request lines are kept below the level that prints them.
    logging.getLogger("httpx").info("HTTP Request: GET /x")
    assert capsys.readouterr().err == ""


def test_console_format_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", "console", (SECRET,))
    structlog.get_logger("tracker.test").info("book_live", open=3, note=SECRET)
    out = capsys.readouterr().err
    assert "book_live" in out and "open=3" in out and SECRET not in out
    assert not out.lstrip().startswith("{")
