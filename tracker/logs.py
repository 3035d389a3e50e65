"""Structured logs: JSON lines for machines, readable lines on a terminal, no secrets.

Standard-library loggers (httpx, websockets, asyncio) go through the same processors, so
the redaction applies to them too; httpx's request lines are kept quiet because a signed
URL is not something to write down.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

SECRET_KEY = re.compile(r"secret|token|api[_-]?key|sign|password|authorization|cookie|memo",
                        re.IGNORECASE)
SECRET_IN_TEXT = re.compile(
    r"((?:secret|token|api[_-]?key|sign(?:ature)?|password|memo|authorization)"
    r"[\"']?\s*[=:]\s*[\"']?(?:bearer\s+)?)[^\s&\"',}]+", re.IGNORECASE)


def scrub_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without the given secret values or anything that looks like a secret
    assignment (`secret=...`, `"sign": "..."`): for logs, and for exchange-originated text
    that the journal keeps."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return SECRET_IN_TEXT.sub(r"\1***", text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: "***" if isinstance(k, str) and SECRET_KEY.search(k) else _scrub(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: v if k in ("level", "timestamp", "logger") else
            ("***" if SECRET_KEY.search(k) else _scrub(v)) for k, v in event.items()}


class Scrubber:
    """Known secret values, replaced wherever they appear (set once credentials load)."""

    values: tuple[str, ...] = ()

    def __call__(self, _: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        if not self.values:
            return event
        return {k: self._clean(v) for k, v in event.items()}

    def _clean(self, value: Any) -> Any:
        return scrub_text(value, self.values) if isinstance(value, str) else value


SCRUBBER = Scrubber()


def configure(level: str = "info", fmt: str = "auto", secrets: tuple[str, ...] = ()) -> None:
    SCRUBBER.values = tuple(s for s in secrets if len(s) >= 4)
    json_lines = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if json_lines:
        tracebacks = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        renderer = [tracebacks, redact, SCRUBBER, structlog.processors.JSONRenderer()]
    else:
        renderer = [structlog.processors.format_exc_info, redact, SCRUBBER,
                    structlog.dev.ConsoleRenderer(colors=False)]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "websockets", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
