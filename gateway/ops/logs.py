"""The log set-up, and keeping credentials out of log lines."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Fields some libraries add for their own terminals (uvicorn: the message with ANSI colours).
_TERMINAL_ONLY = ("color_message",)

_CREDENTIAL = re.compile(
    r"((?:secret|appSecret|token|accessToken|refreshToken)=)[^&\s\"']*", re.IGNORECASE
)


class RedactSecrets(logging.Filter):
    """Blanks credential values in URLs a log line quotes: the e签宝 token URL carries the app
    secret in its query, and both httpx and the access log print request URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _CREDENTIAL.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact(*logger_names: str) -> None:
    """Install the filter on these loggers (once each)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def iso_time(record: logging.LogRecord) -> str:
    """When the record was made, in ISO 8601 with its zone (UTC): unambiguous across hosts."""
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class TextLines(logging.Formatter):
    """A line for people, its time as in the JSON lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record)


class JsonLines(JsonFormatter):
    """One JSON object a line, whatever is logged: the time in ISO 8601 with its zone (UTC),
    no terminal colours, and an exception's traceback as the `exception` field (one string),
    never as lines of its own."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
                "stack_info": "stack",
            },
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_time(record)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        for name in _TERMINAL_ONLY:
            log_data.pop(name, None)
        message = log_data.get("message")
        if isinstance(message, str) and "\x1b" in message:
            log_data["message"] = _ANSI.sub("", message)
        return log_data


def configure_logging(level: str, log_format: str = "text") -> None:
    """Text for people, or one JSON object per line (python-json-logger) for collectors: the
    extra fields of an event (the request events of gateway/execution/observe.py) become keys.
    Every logger's records go through it (uvicorn's too: the server is given no log set-up of
    its own)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(TextLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The access log prints query strings: the sandbox's token URL carries its demo secret.
    redact("uvicorn.access")
    # Write events: one JSON object per line after the logger's prefix.
    logging.getLogger("gateway.audit").setLevel(logging.INFO)
