"""Signed URLs' signatures never reach the access log."""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn

from autan.api.access_log import ACCESS_LOGGER, SignatureRedaction, redact, redact_access_log
from tests.api.conftest import local_app
from tests.fakes import fake_engine, fake_registry

SIGNED = "/v1/files/f1/content?expires=1700000000&signature=abc123def"


def test_redact_hides_signature_and_sig_values_only() -> None:
    assert redact(SIGNED) == "/v1/files/f1/content?expires=1700000000&signature=[redacted]"
    assert redact("/x?sig=s3cret&a=1") == "/x?sig=[redacted]&a=1"
    assert redact("/x?a=1&SIGNATURE=s") == "/x?a=1&SIGNATURE=[redacted]"
    assert redact("/x?design=1&signatures=2") == "/x?design=1&signatures=2"


def _access_record() -> logging.LogRecord:
    # The shape of uvicorn's access records: client, method, path with query, version, status.
    return logging.LogRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", SIGNED, "1.1", 200),
        None,
    )


def test_the_filter_rewrites_the_request_line() -> None:
    record = _access_record()
    assert SignatureRedaction().filter(record)
    message = record.getMessage()
    assert "abc123def" not in message and "signature=[redacted]" in message


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_app_installs_it_and_uvicorns_logging_config_keeps_it(tmp_path: Path) -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.filters = [f for f in logger.filters if not isinstance(f, SignatureRedaction)]
    engine, _ = fake_engine(b"hi")
    app = local_app(lambda: fake_registry(engine), tmp_path)
    redact_access_log()  # installed once, however often asked
    assert sum(isinstance(f, SignatureRedaction) for f in logger.filters) == 1
    uvicorn.Config(app)  # configures uvicorn's loggers, as ``autan serve`` does
    lines = _Lines()
    logger.addHandler(lines)
    try:
        logger.handle(_access_record())
    finally:
        logger.removeHandler(lines)
    assert len(lines.lines) == 1 and "abc123def" not in lines.lines[0]
    assert "signature=[redacted]" in lines.lines[0]
