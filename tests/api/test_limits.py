"""Every input is bounded, and no request holds up the event loop for the others."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autan.inference.engine import LocalEngine
from autan.settings import EngineSettings, RequestLimits
from tests.api.conftest import local_app
from tests.api.test_errors import assert_envelope
from tests.fakes import ByteVocabulary, ScriptBackend, fake_engine, fake_registry

USER = [{"role": "user", "content": "Hi"}]


def chat(client: TestClient, **body: Any) -> tuple[int, dict[str, Any]]:
    r = client.post("/v1/chat/completions", json={"model": "fake-model", "messages": USER, **body})
    return r.status_code, r.json()


def schema_format(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}


@pytest.fixture
def small_limits(tmp_path: Path) -> Iterator[TestClient]:
    engine, _ = fake_engine(b"{}")
    limits = RequestLimits(
        max_body_bytes=2000,
        max_messages=5,
        max_schema_nodes=50,
        max_schema_properties=10,
        max_schema_depth=8,
        max_schema_bound=100,
    )
    with TestClient(local_app(lambda: fake_registry(engine), tmp_path, limits=limits)) as client:
        yield client


# --- body size -----------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_413_from_its_content_length(small_limits: TestClient) -> None:
    status, body = chat(small_limits, messages=[{"role": "user", "content": "x" * 5000}])
    assert status == 413
    assert_envelope(body)
    assert body["code"] == "request_too_large"
    assert "2000" in body["message"]


def test_a_body_without_length_is_cut_off_as_it_passes_the_limit(small_limits: TestClient) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "fake-model", "messages": [{"role": "user", "content": "'
        for _ in range(1000):
            sent.append(1)
            yield b"x" * 100
        yield b'"}]}'

    r = small_limits.post(
        "/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert_envelope(r.json())


def test_a_body_under_the_limit_is_served(small_limits: TestClient) -> None:
    status, body = chat(small_limits)
    assert status == 200, body


# --- counts and schema sizes -----------------------------------------------------------------


def test_too_many_messages_is_a_400(small_limits: TestClient) -> None:
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}] * 3
    status, body = chat(small_limits, messages=[*turns, {"role": "user", "content": "c"}])
    assert status == 400
    assert_envelope(body)
    assert body["param"] == "messages" and body["code"] == "too_many_messages"


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    return schema


@pytest.mark.parametrize(
    ("schema", "limit"),
    [
        (_nested(10), "DEPTH"),
        (
            {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(11)}},
            "PROPERTIES",
        ),
        ({"type": "string", "enum": [f"v{i}" for i in range(60)]}, "NODES"),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 101}, "BOUND"),
        ({"type": "string", "maxLength": 1000}, "BOUND"),
    ],
)
def test_a_schema_over_a_limit_is_a_400(small_limits: TestClient, schema: Any, limit: str) -> None:
    status, body = chat(small_limits, response_format=schema_format(schema))
    assert status == 400, body
    assert_envelope(body)
    assert body["param"] == "response_format.json_schema.schema"
    assert body["code"] == "schema_too_large"
    assert f"AUTAN_LIMITS__MAX_SCHEMA_{limit}" in body["message"]


def test_tool_schemas_share_the_limits(small_limits: TestClient) -> None:
    props = {f"p{i}": {"type": "string"} for i in range(6)}
    tool = {
        "type": "function",
        "function": {"name": "f", "parameters": {"type": "object", "properties": props}},
    }
    status, body = chat(
        small_limits, tools=[tool, {**tool, "function": {**tool["function"], "name": "g"}}]
    )
    assert status == 400, body
    assert body["param"] == "tools[1].function.parameters"


@pytest.mark.parametrize(
    "schema",
    [
        _nested(200),  # once a 500: jsonschema's own check ran out of stack
        {"type": "array", "items": {"type": "integer"}, "minItems": 1_000_000_000},
        # once 8.5 s of grammar compiling; past ~500 optional properties llguidance also fails
        {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(10_000)}},
    ],
)
def test_default_limits_refuse_what_would_stall_the_server(client: TestClient, schema: Any) -> None:
    status, body = chat(client, response_format=schema_format(schema))
    assert status == 400, body
    assert body["code"] == "schema_too_large"


# --- unsatisfiable schemas -------------------------------------------------------------------

_SELF = {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]}
_CYCLE = {
    "$defs": {
        "A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}, "required": ["b"]},
        "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "required": ["a"]},
    },
    "$ref": "#/$defs/A",
}
_ARRAY = {"type": "array", "items": {"$ref": "#"}, "minItems": 1}


@pytest.mark.parametrize("schema", [_SELF, _CYCLE, _ARRAY])
def test_a_schema_no_finite_value_matches_is_a_400(client: TestClient, schema: Any) -> None:
    status, body = chat(client, response_format=schema_format(schema))
    assert status == 400, body
    assert_envelope(body)
    assert body["code"] == "unsatisfiable_schema"
    assert body["param"] == "response_format.json_schema.schema"


def test_an_unsatisfiable_tool_schema_is_a_400(client: TestClient) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": _SELF}}
    status, body = chat(client, tools=[tool])
    assert status == 400, body
    assert body["param"] == "tools[0].function.parameters"


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"$ref": "#"}}},  # recursion that may stop
        {"type": "array", "items": {"$ref": "#"}},
        {
            "$defs": {
                "node": {
                    "type": "object",
                    "properties": {"next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
                    "required": ["next"],
                }
            },
            "$ref": "#/$defs/node",
        },
    ],
)
def test_recursive_schemas_with_an_end_are_served(client: TestClient, schema: Any) -> None:
    # Room for the shortest reply (``{"next": null}``): less is a 400 that says the minimum.
    status, body = chat(client, response_format=schema_format(schema), max_tokens=32)
    assert status == 200, body


# --- bodies that used to be 500s -------------------------------------------------------------


def _post_raw(client: TestClient, raw: bytes, content_type: str = "application/json") -> Any:
    return client.post("/v1/chat/completions", content=raw, headers={"content-type": content_type})


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_a_400(client: TestClient, number: bytes) -> None:
    raw = (
        b'{"model": "fake-model", "messages": [{"role": "user", "content": "Hi"}], "temperature": '
        + number
        + b"}"
    )
    r = _post_raw(client, raw)
    assert r.status_code == 400
    assert_envelope(r.json())
    assert r.json()["code"] == "invalid_json"


def test_nan_spelled_inside_a_string_is_fine(client: TestClient) -> None:
    status, _ = chat(client, messages=[{"role": "user", "content": "NaN and Infinity"}])
    assert status == 200


def test_json_sent_as_text_plain_is_a_422_and_the_prompt_stays_out_of_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    raw = b'{"model": "fake-model", "messages": [{"role": "user", "content": "my secret prompt"}]}'
    with caplog.at_level(logging.DEBUG):
        r = _post_raw(client, raw, "text/plain")
    assert r.status_code == 422
    assert_envelope(r.json())
    assert "my secret prompt" not in r.text
    assert "my secret prompt" not in caplog.text


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (
            "/v1/chat/completions",
            b'{"model": "fake-model", "messages": [{"role": "user", "content": "a\\ud800b"}]}',
        ),
        (
            "/v1/chat/completions",
            b'{"model": "fake\\udfff", "messages": [{"role": "user", "content": "a"}]}',
        ),
        ("/v1/embeddings", b'{"model": "mistral-embed", "input": ["\\udc00"]}'),
    ],
)
def test_lone_surrogates_are_a_400(client: TestClient, path: str, raw: bytes) -> None:
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert_envelope(r.json())
    assert "surrogate" in r.json()["message"]


def test_surrogate_pairs_are_characters(client: TestClient) -> None:
    raw = b'{"model": "fake-model", "messages": [{"role": "user", "content": "\\ud83d\\ude00"}]}'
    assert _post_raw(client, raw).status_code == 200


# --- the event loop --------------------------------------------------------------------------


class GatedVocabulary(ByteVocabulary):
    """Tokenizing a text holding ``BIG`` waits until ``/health`` has answered (or gives up):
    a prompt tokenized on the event loop would keep ``/health`` from answering meanwhile."""

    def __init__(self) -> None:
        super().__init__(fim=(1, 2, 3))
        self.entered = threading.Event()
        self.health_answered = threading.Event()
        self.saw_health: bool | None = None

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        if "BIG" in text:
            self.entered.set()
            self.saw_health = self.health_answered.wait(timeout=30)
        return super().tokenize(text, add_special=add_special, parse_special=parse_special)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "BIG prompt"}]}),
        ("/v1/fim/completions", {"prompt": "def BIG():", "suffix": "return 1"}),
    ],
)
def test_health_answers_while_a_prompt_is_tokenized(
    path: str, body: dict[str, Any], tmp_path: Path
) -> None:
    vocabulary = GatedVocabulary()
    settings = EngineSettings(parallel=2, context_per_sequence=512, batch_tokens=64, threads=1)
    engine = LocalEngine(vocabulary, ScriptBackend(b"ok"), settings, 512)
    with TestClient(local_app(lambda: fake_registry(engine), tmp_path)) as client:
        replies: list[int] = []
        big = threading.Thread(
            target=lambda: replies.append(
                client.post(path, json={"model": "fake-model", **body}).status_code
            )
        )
        big.start()
        assert vocabulary.entered.wait(timeout=30)
        health = client.get("/health")
        vocabulary.health_answered.set()
        big.join()
    assert health.status_code == 200
    assert vocabulary.saw_health is True  # /health answered before the big prompt was ready
    assert replies == [200]
