"""Every answer carries ``x-request-id``, the id its request log record has; errors carry it
in their envelope too."""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from autan.api.errors import install_error_handlers
from autan.api.request_log import RequestLogMiddleware
from autan.observability.request_context import current_request_id
from tests.api.conftest import Platform
from tests.api.test_auth import CHAT, bearer


def _record(platform: Platform, request_id: str) -> dict[str, object]:
    r = platform.client.post(
        "/v1/observability/chat-completion-events/search",
        json={
            "search_params": {
                "filters": {"field": "correlation_id", "op": "eq", "value": request_id}
            }
        },
        headers=bearer(platform.admin_key),
    )
    (event,) = r.json()["completion_events"]["results"]
    return event  # type: ignore[no-any-return]


def test_a_success_carries_a_new_id_that_names_its_record(platform: Platform) -> None:
    _, secret = platform.key()
    r = platform.client.post("/v1/chat/completions", json=CHAT, headers=bearer(secret))
    request_id = r.headers["x-request-id"]
    assert r.status_code == 200 and uuid.UUID(request_id)
    assert _record(platform, request_id)["event_id"] == request_id


def test_a_stream_carries_it_before_its_first_chunk(platform: Platform) -> None:
    _, secret = platform.key()
    with platform.client.stream(
        "POST", "/v1/chat/completions", json={**CHAT, "stream": True}, headers=bearer(secret)
    ) as r:
        request_id = r.headers["x-request-id"]
        events = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and uuid.UUID(request_id)
    event = _record(platform, request_id)
    assert event["extra_fields"]["stream"] is True  # type: ignore[index]


def test_errors_carry_it_in_the_header_and_the_envelope(platform: Platform) -> None:
    _, secret = platform.key()
    answers = [
        platform.client.post("/v1/chat/completions", json=CHAT),  # 401
        platform.client.post("/v1/chat/completions", json={"model": 1}, headers=bearer(secret)),
        platform.client.post(
            "/v1/chat/completions", json={**CHAT, "model": "nope"}, headers=bearer(secret)
        ),
        platform.client.get("/v1/files/nope", headers=bearer(secret)),
        platform.client.post(
            "/v1/chat/completions",
            content=b"{",
            headers={**bearer(secret), "content-type": "application/json"},
        ),
    ]
    for r in answers:
        assert r.status_code >= 400, r.text
        assert r.json()["request_id"] == r.headers["x-request-id"], r.text
        assert r.json()["object"] == "error"
    unauthorized = _record(platform, answers[0].headers["x-request-id"])
    assert unauthorized["extra_fields"]["status"] == 401  # type: ignore[index]
    assert unauthorized["extra_fields"]["api_key_id"] is None  # type: ignore[index]


def test_a_sane_client_id_is_kept_and_another_replaced(platform: Platform) -> None:
    _, secret = platform.key()
    mine = platform.client.get(
        "/v1/models", headers={**bearer(secret), "x-request-id": "trace-42.a:b"}
    )
    assert mine.headers["x-request-id"] == "trace-42.a:b"
    event = _record(platform, "trace-42.a:b")
    assert event["event_id"] != "trace-42.a:b" and uuid.UUID(str(event["event_id"]))
    for bad in ("x" * 129, "has space", "semi;colon", ""):
        r = platform.client.get("/v1/models", headers={**bearer(secret), "x-request-id": bad})
        assert r.headers["x-request-id"] != bad and uuid.UUID(r.headers["x-request-id"])


def test_a_route_and_log_lines_read_it_from_the_request() -> None:
    app = FastAPI()
    app.add_middleware(RequestLogMiddleware)
    seen: list[tuple[str, str | None]] = []

    @app.get("/v1/echo")
    async def echo(request: Request) -> dict[str, str]:
        seen.append((request.state.request_id, current_request_id()))
        return {"id": request.state.request_id}

    with TestClient(app) as client:
        r = client.get("/v1/echo")
    assert r.json()["id"] == r.headers["x-request-id"]
    assert seen == [(r.headers["x-request-id"], r.headers["x-request-id"])]
    assert current_request_id() is None


def test_an_unexpected_error_carries_it_too() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestLogMiddleware)

    @app.get("/v1/broken")
    async def broken() -> None:
        raise RuntimeError("bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/v1/broken")
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert r.json()["request_id"] == r.headers["x-request-id"]
