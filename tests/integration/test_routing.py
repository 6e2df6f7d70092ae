"""A gateway ``autan serve`` routing to real engines in their own processes: two other
``autan serve`` (one spoken to in the OpenAI dialect, one in the Mistral one) and
llama-cpp-python's own OpenAI-compatible server, through the official SDKs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from mistralai import Mistral

from autan.models.packaged import packaged_model_path
from tests.server import ROOT, Server, _free_port, start_server, stop_server

pytestmark = pytest.mark.model

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 30}},
            "required": ["city"],
        },
    },
}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def start_llama_cpp_server() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(packaged_model_path()),
            "--model_alias",
            "smol",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start in 120 s")


def models_file(path: Path, one: Server, two: Server, foreign: str) -> Path:
    path.write_text(
        f"""
[[models]]
id = "routed"
aliases = ["routed-latest"]
[[models.deployments]]
backend = "openai"
url = "{one.v1}"
upstream_model = "{one.model}"
[[models.deployments]]
backend = "mistral"
url = "{two.url}"
upstream_model = "{two.model}"

[[models]]
id = "foreign"
capabilities = {{ completion_chat = true, completion_fim = true, function_calling = false }}
[[models.deployments]]
backend = "openai"
url = "{foreign}/v1"
upstream_model = "smol"
structured_outputs = "json_object_schema"

[[models]]
id = "embed"
kind = "embedding"
[[models.deployments]]
backend = "openai"
url = "{one.v1}"
upstream_model = "all-minilm-l6-v2"
"""
    )
    return path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("routing")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc, one = start_server("--data-dir", str(tmp / "one"))
        procs.append(proc)
        proc, two = start_server("--data-dir", str(tmp / "two"))
        procs.append(proc)
        foreign_proc, foreign = start_llama_cpp_server()
        file = models_file(tmp / "models.toml", one, two, foreign)
        proc, gw = start_server("--data-dir", str(tmp / "gw"), "--models-file", str(file))
        procs.append(proc)
        yield Server(gw.url, model="routed")
    finally:
        for proc in procs:
            stop_server(proc)
        if "foreign_proc" in locals():
            foreign_proc.kill()
            foreign_proc.wait()


def _mistral(server: Server) -> Mistral:
    return Mistral(api_key="any", server_url=server.url, timeout_ms=300_000)


def _openai(server: Server) -> openai.OpenAI:
    return openai.OpenAI(api_key="any", base_url=server.v1, timeout=300)


def test_chat_and_stream_through_the_mistral_sdk(gateway: Server) -> None:
    client = _mistral(gateway)
    for _ in range(2):  # both deployments, whichever the router picks
        reply = client.chat.complete(model="routed-latest", messages=ASK, max_tokens=12)
        assert reply.model == "routed-latest"
        assert reply.choices[0].message.content
        assert reply.usage.completion_tokens > 0
    chunks = list(client.chat.stream(model="routed", messages=ASK, max_tokens=12))
    assert chunks[-1].data.usage is not None and chunks[-1].data.choices[0].finish_reason
    assert "".join(str(c.data.choices[0].delta.content or "") for c in chunks)


@pytest.mark.parametrize(
    "choice",
    ["auto", "none", "any", "required", {"type": "function", "function": {"name": "get_weather"}}],
)
def test_every_tool_choice_through_the_openai_sdk(gateway: Server, choice: Any) -> None:
    client = _openai(gateway)
    reply = client.chat.completions.create(
        model="routed",
        messages=ASK,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice=choice if choice != "any" else "required",
        parallel_tool_calls=False,
        max_tokens=48,
    )
    calls = reply.choices[0].message.tool_calls or []
    if choice == "none":
        assert not calls
    elif choice != "auto":
        assert len(calls) == 1 and calls[0].function.name == "get_weather"
    for call in calls:
        jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])  # type: ignore[index]


def test_tool_choice_any_streamed_through_the_mistral_sdk(gateway: Server) -> None:
    client = _mistral(gateway)
    calls = [
        call
        for chunk in client.chat.stream(
            model="routed",
            messages=ASK,
            tools=[WEATHER],
            tool_choice="any",  # type: ignore[list-item]
            parallel_tool_calls=False,
            max_tokens=48,
        )
        for call in chunk.data.choices[0].delta.tool_calls or []
    ]
    assert len(calls) == 1 and len(calls[0].id or "") == 9


@pytest.mark.parametrize("model", ["routed", "foreign"])
def test_json_schema_holds_on_autan_and_on_llama_cpp_python(gateway: Server, model: str) -> None:
    reply = _mistral(gateway).chat.complete(
        model=model,
        messages=[{"role": "user", "content": "Invent a person."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON},
        },  # type: ignore[arg-type]
        max_tokens=60,
    )
    choice = reply.choices[0]
    if choice.finish_reason != "length":
        jsonschema.validate(json.loads(str(choice.message.content)), PERSON)


def test_a_foreign_engine_streams_and_fills_in_the_middle(gateway: Server) -> None:
    client = _mistral(gateway)
    chunks = list(client.chat.stream(model="foreign", messages=ASK, max_tokens=8))
    assert chunks[0].data.choices[0].delta.role == "assistant"
    assert chunks[-1].data.usage is not None
    assert all(c.data.choices[0].finish_reason is None for c in chunks[:-1])
    fim = client.fim.complete(
        model="foreign", prompt="def add(a, b):\n    return", suffix="\n", max_tokens=8
    )
    assert fim.choices[0].message.content is not None


def test_what_a_model_cannot_do_is_a_400_before_anything_is_sent(gateway: Server) -> None:
    r = httpx.post(
        f"{gateway.v1}/fim/completions", json={"model": "routed", "prompt": "def"}, timeout=30
    )
    assert r.status_code == 400 and "fill-in-the-middle" in r.json()["message"]
    r = httpx.post(
        f"{gateway.v1}/chat/completions",
        json={"model": "foreign", "messages": ASK, "tools": [WEATHER]},
        timeout=30,
    )
    assert r.status_code == 400 and "function calling" in r.json()["message"]


def test_embeddings_are_routed_to_another_autan(gateway: Server) -> None:
    reply = _mistral(gateway).embeddings.create(model="embed", inputs=["routed text", "another"])
    assert [len(d.embedding or []) for d in reply.data] == [384, 384]
    assert reply.usage.prompt_tokens > 0


def test_the_models_list_shows_routed_models_with_their_capabilities(gateway: Server) -> None:
    data = {m.id: m for m in _mistral(gateway).models.list().data or []}
    assert data["routed"].capabilities.function_calling
    assert not data["foreign"].capabilities.function_calling
    assert data["foreign"].capabilities.completion_fim
    health = httpx.get(f"{gateway.url}/health", timeout=10).json()
    assert {d["state"] for d in health["deployments"]} == {"healthy"}
