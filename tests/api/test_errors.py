import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import local_app
from tests.fakes import fake_engine, fake_registry

USER = [{"role": "user", "content": "Hi"}]


def post(client: TestClient, **body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = client.post("/v1/chat/completions", json={"model": "fake-model", "messages": USER, **body})
    return r.status_code, r.json()


def assert_envelope(body: dict, type_: str = "invalid_request_error") -> None:  # type: ignore[type-arg]
    assert body["object"] == "error"
    assert body["type"] == type_
    assert {"message", "param", "code"} <= body.keys()


def test_unknown_model_is_a_404(client: TestClient) -> None:
    status, body = post(client, model="gpt-17")
    assert status == 404
    assert_envelope(body)
    assert body["param"] == "model" and "gpt-17" in body["message"]


def test_schema_errors_are_422_with_details_the_sdk_parses(client: TestClient) -> None:
    status, body = post(client, temperature="hot", max_tokenz=3)
    assert status == 422
    assert_envelope(body)
    locs = {tuple(d["loc"]) for d in body["message"]["detail"]}
    assert ("body", "temperature") in locs
    assert ("body", "max_tokenz") in locs


def test_invalid_json_is_a_422(client: TestClient) -> None:
    r = client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert_envelope(r.json())


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"tool_choice": "any"}, "tool_choice"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"type": "array", "uniqueItems": True}},
                }
            },
            "response_format.json_schema.schema",
        ),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "object", "not": {}}},
                    }
                ]
            },
            "tools[0].function.parameters",
        ),
        ({"prompt_mode": "reasoning"}, "prompt_mode"),
        ({"prediction": {"type": "content", "content": "guess"}}, "prediction"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": "https://x/y.png"}],
                    }
                ]
            },
            "messages[0].content",
        ),
    ],
)
def test_features_not_implemented_are_refused_not_ignored(
    client: TestClient,
    extra: dict,
    param: str,  # type: ignore[type-arg]
) -> None:
    status, body = post(client, **extra)
    assert status == 400, body
    assert_envelope(body)
    assert body["param"] == param


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([], "at least one message"),
        ([{"role": "assistant", "content": "hi"}], "user or system"),
        ([*USER, {"role": "assistant", "content": "x"}], "Expected last role"),
        ([{"role": "user", "content": "a"}, {"role": "tool", "content": "r"}], "Unexpected role"),
        (
            [*USER, {"role": "assistant", "content": None}, {"role": "user", "content": "b"}],
            "either content or tool_calls",
        ),
        (
            [*USER, {"role": "assistant", "content": "", "prefix": True}],
            "must have content",
        ),
    ],
)
def test_malformed_conversations_are_400(
    client: TestClient,
    messages: list,
    fragment: str,  # type: ignore[type-arg]
) -> None:
    status, body = post(client, messages=messages)
    assert status == 400
    assert_envelope(body)
    assert fragment in body["message"]


def test_prompt_longer_than_the_context_says_how_many_tokens_fit(client: TestClient) -> None:
    status, body = post(client, messages=[{"role": "user", "content": "x" * 600}])
    assert status == 400
    assert_envelope(body)
    assert body["code"] == "context_length_exceeded"
    sent = len("<user>\n<assistant>") + 600
    assert f"Prompt contains {sent} tokens" in body["message"]
    assert "512 maximum context length" in body["message"]


def test_unknown_route_is_an_enveloped_404(client: TestClient) -> None:
    r = client.get("/v1/nothing")
    assert r.status_code == 404
    assert_envelope(r.json())


def test_full_queue_is_a_503_with_retry_after(tmp_path: Path) -> None:
    engine, _ = fake_engine(b"x" * 200, parallel=1, decode_delay=0.01, max_waiting=0)
    with TestClient(local_app(lambda: fake_registry(engine), tmp_path)) as client:
        r = client.post("/v1/chat/completions", json={"model": "fake-model", "messages": USER})
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert_envelope(r.json(), "overloaded_error")


def test_a_json_body_sent_as_text_is_a_422_not_a_500(client: TestClient) -> None:
    body = json.dumps({"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]})
    r = client.post("/v1/chat/completions", content=body, headers={"Content-Type": "text/plain"})
    assert r.status_code == 422
    (err,) = r.json()["message"]["detail"]
    assert err["loc"] == ["body"]
    assert "input" not in err and "application/json" in err["msg"]


def test_non_finite_numbers_are_refused_and_echoed_as_text(client: TestClient) -> None:
    body = '{"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], '
    r = client.post(
        "/v1/chat/completions",
        content=body + '"temperature": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500
    assert r.json()["object"] == "error"
