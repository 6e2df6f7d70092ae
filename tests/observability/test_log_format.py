"""JSON log lines carry the id of the request they were written for."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from autan.api.request_log import RequestLogMiddleware
from autan.observability.log_format import JsonFormatter, RequestIdFilter
from autan.settings import Settings


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("autan.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


def test_a_line_logged_while_handling_a_request_has_its_id(lines: io.StringIO) -> None:
    app = FastAPI()
    app.add_middleware(RequestLogMiddleware)
    log = logging.getLogger("autan.test.json")

    @app.get("/v1/work")
    async def work() -> dict[str, str]:
        log.info("working on %s", "it")
        return {}

    with TestClient(app) as client:
        r = client.get("/v1/work", headers={"x-request-id": "abc-123"})
    log.warning("between requests")
    during, after = (json.loads(line) for line in lines.getvalue().splitlines())
    assert r.headers["x-request-id"] == "abc-123"
    assert during["request_id"] == "abc-123" and during["message"] == "working on it"
    assert during["level"] == "info" and during["logger"] == "autan.test.json"
    assert "request_id" not in after and after["level"] == "warning"


def test_an_exception_is_one_line(lines: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("autan.test.json").exception("failed", extra={"request_id": "r1"})
    (line,) = lines.getvalue().splitlines()
    record = json.loads(line)
    assert record["request_id"] == "r1" and "ValueError: boom" in record["exception"]


def test_the_format_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTAN_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("AUTAN_LOG_FORMAT", "xml")
    with pytest.raises(ValueError):
        Settings()
