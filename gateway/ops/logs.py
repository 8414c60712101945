"""The log set-up, and keeping credentials out of log lines."""

from __future__ import annotations

import logging
import re

from pythonjsonlogger.json import JsonFormatter

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


def configure_logging(level: str, log_format: str = "text") -> None:
    """Text for people, or one JSON object per line (python-json-logger) for collectors: the
    extra fields of an event (the request events of gateway/execution/observe.py) become keys."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The access log prints query strings: the sandbox's token URL carries its demo secret.
    redact("uvicorn.access")
    # Write events: one JSON object per line after the logger's prefix.
    logging.getLogger("gateway.audit").setLevel(logging.INFO)
