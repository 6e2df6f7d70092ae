"""Traces as a collector receives them: real OTLP/HTTP exports (protobuf) to a local receiver,
from requests through the app."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.sdk.trace import TracerProvider

from autan.observability.request_context import RequestContext, new_context, request_scope
from autan.observability.tracing import Tracing, inject_trace_context
from autan.settings import JobsSettings, TracingSettings
from tests.api.conftest import local_app, platform_app
from tests.api.test_batch import run_inline, sdk
from tests.fakes import fake_engine, fake_registry
from tests.observability.otlp_receiver import OtlpReceiver, otlp_receiver

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "Hi secret words"}]}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    with otlp_receiver() as received:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", received.url)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "autan-test")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        yield received


def _serve(tmp_path: Path, *requests: dict[str, object]) -> list[dict[str, object]]:
    """Send ``requests`` (each with its headers under "headers"); the app closes after them,
    which exports every span."""
    engine, _ = fake_engine()
    replies = []
    with TestClient(local_app(lambda: fake_registry(engine), tmp_path)) as client:
        for request in requests:
            body = dict(request)
            headers = body.pop("headers", {})
            r = client.post("/v1/chat/completions", json=body, headers=headers)  # type: ignore[arg-type]
            assert r.status_code == 200, r.text
            replies.append(r.json())
    return replies


def test_a_chat_request_is_a_genai_span_in_the_clients_trace(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    (reply,) = _serve(
        tmp_path,
        {**CHAT, "max_tokens": 8, "temperature": 0, "headers": {"traceparent": TRACEPARENT}},
    )
    assert receiver.content_types and set(receiver.content_types) == {"application/x-protobuf"}
    (server,) = receiver.named("POST /v1/chat/completions")
    assert server.kind == SpanProto.SPAN_KIND_SERVER
    assert (server.trace_id, server.parent_span_id) == (TRACE_ID, PARENT_ID)
    assert server.service_name == "autan-test"
    assert server.attributes["http.route"] == "/v1/chat/completions"
    assert server.attributes["http.response.status_code"] == 200
    assert len(server.attributes["autan.request_id"]) == 36  # the request log's id

    (chat,) = receiver.named("chat fake-model")
    assert chat.parent_span_id == server.span_id and chat.trace_id == TRACE_ID
    a = chat.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "mistral_ai"
    assert a["gen_ai.request.model"] == "fake-model"
    assert a["gen_ai.request.max_tokens"] == 8
    assert a["gen_ai.usage.input_tokens"] == reply["usage"]["prompt_tokens"]  # type: ignore[index]
    assert a["gen_ai.usage.output_tokens"] == reply["usage"]["completion_tokens"]  # type: ignore[index]
    assert a["gen_ai.response.finish_reasons"] == ["length"]
    assert a["gen_ai.response.id"] == reply["id"]
    assert 0 < a["gen_ai.response.time_to_first_chunk"] < (chat.end_ns - chat.start_ns) / 1e9
    # No prompt or completion text unless asked for.
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
    assert all("secret" not in str(v) for s in receiver.spans for v in s.attributes.values())

    children = {s.name: s for s in receiver.children(chat)}
    assert {"autan.prepare", "autan.queue", "autan.prefill", "autan.decode"} <= set(children)
    queue, prefill, decode = (
        children["autan.queue"],
        children["autan.prefill"],
        children["autan.decode"],
    )
    # The engine's phases follow one another, inside the completion's span.
    assert chat.start_ns <= queue.start_ns <= queue.end_ns <= prefill.start_ns
    assert prefill.end_ns <= decode.start_ns <= decode.end_ns <= chat.end_ns


def test_grammar_compilation_has_its_own_span(tmp_path: Path, receiver: OtlpReceiver) -> None:
    _serve(tmp_path, {**CHAT, "max_tokens": 4, "response_format": {"type": "json_object"}})
    (grammar,) = receiver.named("autan.grammar")
    (prepare,) = receiver.named("autan.prepare")
    assert grammar.parent_span_id == prepare.span_id


def test_content_goes_into_spans_only_when_asked(
    tmp_path: Path, receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTAN_TRACING__CAPTURE_CONTENT", "true")
    (reply,) = _serve(tmp_path, CHAT)
    (chat,) = receiver.named("chat fake-model")
    assert "secret words" in chat.attributes["gen_ai.input.messages"]
    content = reply["choices"][0]["message"]["content"]  # type: ignore[index]
    assert content in chat.attributes["gen_ai.output.messages"]


def test_nothing_is_set_up_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert Tracing.from_environment(TracingSettings()) is None
    on = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
    assert Tracing.from_environment(TracingSettings(), {**on, "OTEL_SDK_DISABLED": "true"}) is None
    assert (
        Tracing.from_environment(TracingSettings(), {**on, "OTEL_TRACES_EXPORTER": "none"}) is None
    )


def test_each_batch_line_is_a_trace_with_its_completion_inside(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    jobs = JobsSettings(poll_seconds=0.02, batch_concurrency=2)
    for platform in platform_app(tmp_path, jobs=jobs):
        assert run_inline(sdk(platform), 2).status == "SUCCESS"
    lines = receiver.named("batch_line")
    assert sorted(s.attributes["autan.batch.line"] for s in lines) == [0, 1]
    for line in lines:
        assert line.parent_span_id == ""  # a trace of its own
        assert line.attributes["http.response.status_code"] == 200
        (chat,) = [s for s in receiver.children(line) if s.name == "chat fake-model"]
        assert chat.attributes["gen_ai.usage.output_tokens"] == 5


def test_calls_made_for_a_traced_request_carry_its_trace_context() -> None:
    tracing = Tracing(TracerProvider())
    assert inject_trace_context({}) == {}  # no request: nothing to pass on
    traced = _context()
    traced.tracing = tracing
    with (
        request_scope(traced),
        tracing.tracer.start_as_current_span("routed call") as span,
    ):
        headers = inject_trace_context({"authorization": "Bearer x"})
    context = span.get_span_context()
    _, trace_id, span_id, _ = headers["traceparent"].split("-")
    assert (trace_id, span_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert headers["authorization"] == "Bearer x"
    with request_scope(_context()):  # a request that is not traced
        assert inject_trace_context({}) == {}


def test_a_refused_completion_ends_its_span_with_the_error(
    tmp_path: Path, receiver: OtlpReceiver
) -> None:
    engine, _ = fake_engine()
    with TestClient(local_app(lambda: fake_registry(engine), tmp_path)) as client:
        r = client.post("/v1/chat/completions", json={**CHAT, "prompt_mode": "reasoning"})
        assert r.status_code == 400
    (chat,) = receiver.named("chat fake-model")
    assert chat.attributes["error.type"] == "InvalidRequest"
    assert chat.attributes["gen_ai.usage.output_tokens"] == 0
    # Refused while its prompt was built: it never reached the engine.
    assert [s.name for s in receiver.children(chat)] == ["autan.prepare"]
    (server,) = receiver.named("POST /v1/chat/completions")
    assert server.attributes["http.response.status_code"] == 400


def _context() -> RequestContext:
    return new_context("POST", "/v1/chat/completions", datetime.now(UTC))
