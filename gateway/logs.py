"""Keeping credentials out of log lines."""

from __future__ import annotations

import logging
import re

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
