"""Keeps signed URLs' signatures out of the access log: anyone who can read the log could
otherwise download the file until the URL expires."""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
_SIGNATURE = re.compile(r"(?i)([?&](?:signature|sig)=)[^&#\s]*")


def redact(text: str) -> str:
    """``text`` with the value of every ``signature=`` or ``sig=`` query parameter hidden."""
    return _SIGNATURE.sub(r"\1[redacted]", text)


class SignatureRedaction(logging.Filter):
    """Rewrites the request line of uvicorn's access records (its arguments are the client,
    the method, the path with its query string, the HTTP version and the status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_log(logger: logging.Logger | None = None) -> None:
    """Install the redaction on uvicorn's access logger (once)."""
    logger = logger or logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, SignatureRedaction) for f in logger.filters):
        logger.addFilter(SignatureRedaction())
