"""Log lines as text or as JSON objects; either way a line written while a request is handled
knows that request's id (``current_request_id``)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from autan.observability.request_context import current_request_id
from autan.settings import LogFormat

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Gives each record ``request_id``: the one it was logged with (``extra``), else the
    request being handled where it was logged, else None."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id when
    there is one, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Text: as ``logging.basicConfig`` writes it (uvicorn keeps its own handlers). JSON: one
    handler on the root logger, which uvicorn's loggers then reach too, so that their lines
    (the access log included) are JSON with the request id; uvicorn must then be started
    with ``log_config=None``."""
    if log_format == "text":
        logging.basicConfig(level=level.upper(), format=_TEXT)
        return
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
