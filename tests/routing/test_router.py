"""Routed models through the whole app, against upstreams over real HTTP."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autan.api.app import create_app
from autan.models.card import ModelCard
from autan.platform import Platform
from autan.settings import FineTuningSettings, RoutingSettings, Settings
from tests.fakes import fake_engine, fake_registry
from tests.routing.scripted_upstream import Script, Upstream, scripted_upstream

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
def upstreams() -> Iterator[tuple[Upstream, Upstream]]:
    with scripted_upstream() as a, scripted_upstream() as b:
        yield a, b


def routed_card(*deployments: dict[str, Any], **fields: Any) -> ModelCard:
    return ModelCard.model_validate({"id": "routed", "deployments": deployments, **fields})


def openai(up: Upstream, **fields: Any) -> dict[str, Any]:
    return {"backend": "openai", "url": f"{up.url}/v1", "upstream_model": "up-model", **fields}


def mistral(up: Upstream, **fields: Any) -> dict[str, Any]:
    return {"backend": "mistral", "url": up.url, "upstream_model": "up-model", **fields}


def gateway(tmp_path: Path, cards: list[ModelCard], **routing: Any) -> TestClient:
    engine, _ = fake_engine(b"local answer")
    settings = Settings(
        no_auth=True,
        data_dir=tmp_path,
        fine_tuning=FineTuningSettings(enabled=False),
        routing=RoutingSettings(probe_interval=0.05, **routing),
    )
    app = create_app(
        lambda: Platform.open(settings, fake_registry(engine), routed=cards), settings.limits
    )
    return TestClient(app)


def ask(client: TestClient, **fields: Any) -> Any:
    body = {"model": "routed", "messages": [{"role": "user", "content": "hi"}], **fields}
    return client.post("/v1/chat/completions", json=body)


def events(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def test_a_chat_is_translated_to_openai_and_back(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    up, _ = upstreams
    with gateway(tmp_path, [routed_card(openai(up))]) as client:
        r = ask(client, random_seed=7, tools=[WEATHER], tool_choice="any", max_tokens=20)
    assert r.status_code == 200, r.text
    sent = up.requests[-1]
    assert sent["model"] == "up-model"
    assert sent["seed"] == 7 and "random_seed" not in sent
    assert sent["tool_choice"] == "required"
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    reply = r.json()
    assert reply["model"] == "routed"
    call = reply["choices"][0]["message"]["tool_calls"][0]
    assert re.fullmatch(r"[A-Za-z0-9]{9}", call["id"])  # not the upstream's call_abc... id
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert reply["choices"][0]["finish_reason"] == "tool_calls"
    assert reply["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_a_mistral_deployment_keeps_the_mistral_words(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    up, _ = upstreams
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Sure:", "prefix": True},
    ]
    with gateway(tmp_path, [routed_card(mistral(up))]) as client:
        r = client.post(
            "/v1/chat/completions",
            json={"model": "routed", "messages": messages, "random_seed": 3},
        )
    assert r.status_code == 200, r.text
    sent = up.requests[-1]
    assert sent["random_seed"] == 3 and "seed" not in sent
    assert sent["messages"][-1]["prefix"] is True
    assert "stream_options" not in sent and "continue_final_message" not in sent


def test_an_assistant_prefix_becomes_continue_final_message_and_is_echoed(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    up, _ = upstreams
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Sure:", "prefix": True},
    ]
    with gateway(tmp_path, [routed_card(openai(up))]) as client:
        r = client.post("/v1/chat/completions", json={"model": "routed", "messages": messages})
    sent = up.requests[-1]
    assert sent["continue_final_message"] is True and sent["add_generation_prompt"] is False
    assert "prefix" not in sent["messages"][-1]
    assert r.json()["choices"][0]["message"]["content"].startswith("Sure:Hello")


def test_a_stream_comes_out_exactly_as_autans_own(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    up, _ = upstreams
    with gateway(tmp_path, [routed_card(openai(up))]) as client:
        r = ask(client, stream=True)
        tool = ask(client, stream=True, tools=[WEATHER], tool_choice="any")
    data = events(r.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all("finish_reason" in c["choices"][0] for c in chunks)
    assert [c for c in chunks if "usage" in c] == [chunks[-1]]
    assert chunks[-1]["usage"]["total_tokens"] == 10
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text.strip() == "Hello from upstream"
    calls = [
        call
        for c in (json.loads(d) for d in events(tool.text)[:-1])
        for call in c["choices"][0]["delta"].get("tool_calls") or []
    ]
    assert len(calls) == 1  # whole, in one chunk, though the upstream sent it in two pieces
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}


def test_a_failing_deployment_is_cooled_down_and_the_next_one_answers(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, b = upstreams
    a.fail(500)
    a.up = False
    with gateway(tmp_path, [routed_card(openai(a), openai(b))]) as client:
        for _ in range(40):  # the first request to reach `a` cools it down
            assert ask(client).status_code == 200
        health = {d["deployment"]: d for d in client.get("/health").json()["deployments"]}
        down = health[f"openai:{a.url[7:]}/v1/up-model"]
        assert down["state"] in ("cooling", "probing")
        assert "scripted 500" in down["last_error"]
        assert len(a.requests) == 1  # tried once, then left alone
        a.up = True
        a.script = Script()
        deadline = time.monotonic() + 10
        while client.get("/health").json()["deployments"][0]["state"] != "healthy":
            assert time.monotonic() < deadline, "the probe did not take it back"
            time.sleep(0.05)


def test_retry_after_of_a_429_is_honoured(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, b = upstreams
    a.fail(429, retry_after=30)
    with gateway(tmp_path, [routed_card(openai(a), openai(b))]) as client:
        for _ in range(40):
            assert ask(client).status_code == 200
        down = next(d for d in client.get("/health").json()["deployments"] if d["failures"])
    assert down["cooldown_seconds"] > 25


def test_when_everything_fails_the_answer_is_503_with_retry_after_and_the_last_error(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, b = upstreams
    a.fail(503)
    b.fail(502)
    with gateway(tmp_path, [routed_card(openai(a), mistral(b))]) as client:
        r = ask(client)
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["code"] == "no_deployment_available"
    assert "scripted 50" in r.json()["message"]


def test_fallbacks_take_over_a_model_whose_deployments_fail(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, _ = upstreams
    a.fail(500)
    card = routed_card(openai(a), fallbacks=["fake-model"])
    with gateway(tmp_path, [card]) as client:
        r = ask(client)
        stream = ask(client, stream=True)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "local answer"
    chunks = [json.loads(d) for d in events(stream.text)[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "local answer"
    assert chunks[0]["model"] == "fake-model"  # the model that answered says so


def test_an_upstream_400_reaches_the_client_with_its_message_and_is_not_retried(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, b = upstreams
    a.fail(400)
    b.fail(400)
    with gateway(tmp_path, [routed_card(openai(a), openai(b))]) as client:
        r = ask(client)
    assert r.status_code == 400
    assert "scripted 400" in r.json()["message"]
    assert len(a.requests) + len(b.requests) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_a_reply_that_breaks_the_schema_never_reaches_the_client(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream], stream: bool
) -> None:
    a, b = upstreams
    a.script = b.script = Script(arguments='{"town": 3}')
    with gateway(tmp_path, [routed_card(openai(a), openai(b))]) as client:
        r = ask(client, tools=[WEATHER], tool_choice="any", stream=stream)
    assert r.status_code == 502
    assert r.json()["code"] == "invalid_upstream_reply"
    assert "town" not in r.text.replace(r.json()["message"], "")
    assert len(a.requests) + len(b.requests) == 2  # asked again once, then refused


def test_a_reply_without_the_forced_call_is_asked_again(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, b = upstreams
    with gateway(tmp_path, [routed_card(openai(a), openai(b))]) as client:
        r = ask(client, response_format={"type": "json_object"})
    assert r.status_code == 502  # "Hello from upstream" is not a JSON object
    assert "not JSON" in r.json()["message"]


def test_a_stream_whose_upstream_dies_ends_with_a_final_chunk_and_an_error_event(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, _ = upstreams
    a.script = Script(die_after=3)
    with gateway(tmp_path, [routed_card(openai(a))]) as client:
        r = ask(client, stream=True)
    assert r.status_code == 200
    assert "event: error" in r.text
    data = events(r.text)
    assert data[-1] == "[DONE]"
    last_chunk = json.loads(data[-3])
    assert last_chunk["choices"][0]["finish_reason"] == "error"
    assert last_chunk["usage"]["completion_tokens"] >= 1  # what was sent is counted
    assert json.loads(data[-2])["code"] == "stream_interrupted"


def test_what_a_deployment_cannot_do_is_a_clear_400(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, _ = upstreams
    card = routed_card(openai(a), capabilities={"function_calling": False})
    with gateway(tmp_path, [card]) as client:
        fim = client.post("/v1/fim/completions", json={"model": "routed", "prompt": "def"})
        tools = ask(client, tools=[WEATHER])
        models = client.get("/v1/models").json()["data"]
    assert fim.status_code == 400 and "fill-in-the-middle" in fim.json()["message"]
    assert tools.status_code == 400 and "function calling" in tools.json()["message"]
    routed = next(m for m in models if m["id"] == "routed")
    assert routed["capabilities"]["completion_chat"] is True
    assert routed["capabilities"]["function_calling"] is False
    assert a.requests == []


def test_fim_goes_to_the_text_completions_of_an_openai_deployment(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, _ = upstreams
    card = routed_card(openai(a), capabilities={"completion_fim": True})
    with gateway(tmp_path, [card]) as client:
        r = client.post(
            "/v1/fim/completions",
            json={"model": "routed", "prompt": "def f(", "suffix": "):", "random_seed": 1},
        )
    assert r.status_code == 200, r.text
    assert a.requests[-1]["suffix"] == "):" and a.requests[-1]["seed"] == 1
    assert r.json()["choices"][0]["message"]["content"].strip() == "Hello from upstream"


def test_embeddings_are_routed(tmp_path: Path, upstreams: tuple[Upstream, Upstream]) -> None:
    a, _ = upstreams
    card = routed_card(openai(a), kind="embedding", capabilities={})
    with gateway(tmp_path, [card]) as client:
        r = client.post(
            "/v1/embeddings", json={"model": "routed", "input": ["a", "b"], "output_dimension": 2}
        )
    assert r.status_code == 200, r.text
    assert a.requests[-1]["dimensions"] == 2
    assert [d["embedding"] for d in r.json()["data"]] == [[0.5, 0.0], [0.5, 1.0]]
    assert r.json()["usage"]["prompt_tokens"] == 8


def test_the_api_key_comes_from_its_variable_at_each_request(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = upstreams
    monkeypatch.setenv("UPSTREAM_KEY", "sk-first")
    with gateway(tmp_path, [routed_card(openai(a, api_key_env="UPSTREAM_KEY"))]) as client:
        ask(client)
        monkeypatch.setenv("UPSTREAM_KEY", "sk-rotated")
        ask(client)
        health = client.get("/health").text
    assert [h["authorization"] for h in a.headers] == ["Bearer sk-first", "Bearer sk-rotated"]
    assert "sk-" not in health


def test_a_prompt_that_starts_like_a_recent_one_goes_to_the_same_deployment(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, b = upstreams
    systems = [f"You are assistant number {i}. " + "Rules. " * 200 for i in range(4)]
    with gateway(tmp_path, [routed_card(openai(a), openai(b))]) as client:
        for round_ in range(5):
            for system in systems:
                messages = [
                    {"role": "system", "content": system},
                    {"role": "user", "content": f"question {round_}"},
                ]
                body = {"model": "routed", "messages": messages}
                assert client.post("/v1/chat/completions", json=body).status_code == 200
    served_by: dict[str, set[str]] = {}
    for name, up in (("a", a), ("b", b)):
        for req in up.requests:
            served_by.setdefault(req["messages"][0]["content"][:30], set()).add(name)
    assert len(served_by) == 4
    assert all(len(names) == 1 for names in served_by.values())  # each prefix kept its replica


def test_a_prompt_too_long_for_one_deployment_goes_to_one_that_fits(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    small, large = upstreams
    card = routed_card(openai(small, context_length=64), openai(large, context_length=100_000))
    long_prompt = [{"role": "user", "content": "word " * 400}]
    with gateway(tmp_path, [card]) as client:
        for _ in range(6):
            r = client.post(
                "/v1/chat/completions", json={"model": "routed", "messages": long_prompt}
            )
            assert r.status_code == 200
        too_long = client.post(
            "/v1/chat/completions",
            json={"model": "routed", "messages": long_prompt, "max_tokens": 200_000},
        )
    assert small.requests == [] and len(large.requests) == 6
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "context_length_exceeded"


def test_the_request_log_records_the_deployment_that_answered(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    a, b = upstreams
    a.fail(500)
    a.up = False
    with gateway(tmp_path, [routed_card(openai(a), openai(b))]) as client:
        ids = [ask(client).headers["x-request-id"] for _ in range(3)]
        ids.append(ask(client, stream=True).headers["x-request-id"])
        found = client.post(
            "/v1/observability/chat-completion-events/search",
            json={"search_params": {"filters": {"field": "model", "op": "eq", "value": "routed"}}},
        ).json()["completion_events"]["results"]
    answered = {e["event_id"]: e["extra_fields"]["deployment"] for e in found}
    assert {answered[i] for i in ids} == {f"openai:{b.url[7:]}/v1/up-model"}


def test_deployment_health_calls_and_fallbacks_are_on_metrics(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream]
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    a, _ = upstreams
    a.fail(429, retry_after=30)
    card = routed_card(openai(a), fallbacks=["fake-model"])
    with gateway(tmp_path, [card]) as client:
        assert ask(client).status_code == 200  # by the fallback
        text = client.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    name = f"openai:{a.url[7:]}/v1/up-model"
    model = (("model_name", "routed"),)
    outcome = (("deployment", name), ("model_name", "routed"), ("outcome", "rate_limited"))
    assert samples[("autan_upstream_requests_total", outcome)] == 1
    assert samples[("autan_fallbacks_total", model)] == 1
    assert (
        samples[("autan_deployment_healthy", (("deployment", name), ("model_name", "routed")))] == 0
    )


def test_a_routed_call_is_a_span_and_the_upstream_joins_the_clients_trace(
    tmp_path: Path, upstreams: tuple[Upstream, Upstream], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.observability.otlp_receiver import otlp_receiver

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    a, _ = upstreams
    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        with gateway(tmp_path, [routed_card(openai(a))]) as client:
            body = {"model": "routed", "messages": [{"role": "user", "content": "hi"}]}
            headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
            assert client.post("/v1/chat/completions", json=body, headers=headers).is_success
    (call,) = receiver.named("routed call")
    assert call.attributes["autan.deployment"] == f"openai:{a.url[7:]}/v1/up-model"
    _, sent_trace, sent_parent, _ = a.headers[-1]["traceparent"].split("-")
    assert sent_trace == trace_id == call.trace_id
    assert sent_parent == call.span_id  # the upstream's spans hang under the call
