"""Property tests on the real model: whatever the schema or tool set, what comes back obeys it.

Schemas and tool sets are generated from fixed seeds (``tests/schema_cases.py``); requests run
eight at a time against the real server, at temperature 0 and 1.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from autan.models.packaged import CODE_MODEL_NAME
from tests.schema_cases import SchemaGen
from tests.server import Server, require_code_model, start_server, stop_server

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"
N_SCHEMAS = 200
N_TOOL_SETS = 60
# The code model is four times the size of the default one: fewer cases on it.
N_CODE_MODEL_SCHEMAS = 12
N_CODE_MODEL_TOOL_SETS = 8


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)  # type: ignore[no-any-return]


async def _post_all(server: Server, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    limit = asyncio.Semaphore(8)

    async def one(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
        async with limit:
            r = await client.post(f"{server.url}/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async with httpx.AsyncClient(timeout=600) as client:
        return await asyncio.gather(*(one(client, b) for b in bodies))


@pytest.mark.timeout(1200)  # 400 requests; minutes on two shared cores
def test_generated_schemas_always_validate(server: Server) -> None:
    _check_generated_schemas(server, MODEL, N_SCHEMAS)


@pytest.mark.timeout(1200)
def test_generated_schemas_validate_on_the_code_model(server: Server) -> None:
    """The same guarantee on the packaged code model (Qwen2.5-Coder-0.5B)."""
    require_code_model()
    _check_generated_schemas(server, CODE_MODEL_NAME, N_CODE_MODEL_SCHEMAS)


def _check_generated_schemas(server: Server, model: str, n: int) -> None:
    gen = SchemaGen(seed=2026)
    schemas = [gen.schema() for _ in range(n)]
    bodies = [
        {
            "model": model,
            "messages": [
                {
                    "role": "user",
                    "content": "Make up a record as JSON matching this schema: " + json.dumps(s),
                }
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": f"case{i}", "schema": s, "strict": i % 2 == 0},
            },
            "temperature": temperature,
            "random_seed": i,
            "max_tokens": 256,
        }
        for temperature in (0, 1)
        for i, s in enumerate(schemas)
    ]
    replies = asyncio.run(_post_all(server, bodies))
    failures = []
    for body, reply in zip(bodies, replies, strict=True):
        choice = reply["choices"][0]
        schema = body["response_format"]["json_schema"]["schema"]
        content = choice["message"]["content"]
        try:
            assert choice["finish_reason"] == "stop", f"finish_reason {choice['finish_reason']}"
            _validator(schema).validate(json.loads(content))
        except (AssertionError, ValueError, jsonschema.ValidationError) as e:
            failures.append(f"{json.dumps(schema)}\n  -> {content!r}\n  !! {e}")
    assert len(replies) == 2 * n
    assert not failures, f"{len(failures)} of {len(replies)} invalid:\n" + "\n".join(failures[:5])


@pytest.mark.timeout(1200)
def test_random_tool_sets_obey_tool_choice_and_schemas(server: Server) -> None:
    _check_random_tool_sets(server, MODEL, N_TOOL_SETS)


@pytest.mark.timeout(1200)
def test_random_tool_sets_on_the_code_model(server: Server) -> None:
    require_code_model()
    _check_random_tool_sets(server, CODE_MODEL_NAME, N_CODE_MODEL_TOOL_SETS)


@pytest.fixture(scope="module")
def mistral_server(dense_v3: Path) -> Iterator[Server]:
    """The tiny Mistral-architecture model: tools in [TOOL_CALLS] syntax, via mistral-common."""
    proc, srv = start_server(
        "--model", str(dense_v3), "--parallel", "8", "--ctx-size", "2048", "--threads", "1"
    )
    try:
        yield srv
    finally:
        stop_server(proc)


def test_random_tool_sets_on_a_mistral_format_model(mistral_server: Server) -> None:
    _check_random_tool_sets(mistral_server, "mistral-small-latest", N_TOOL_SETS)


def _check_random_tool_sets(server: Server, model: str, n: int) -> None:
    gen = SchemaGen(seed=7)
    rng = random.Random(7)
    cases = []
    for i in range(n):
        tools = gen.tools()
        choice: Any = rng.choice(["auto", "none", "any", "required", "named"])
        if choice == "named":
            choice = {
                "type": "function",
                "function": {"name": rng.choice(tools)["function"]["name"]},
            }
        cases.append(
            {
                "model": model,
                "messages": [{"role": "user", "content": "Use the tools to help me plan a trip."}],
                "tools": tools,
                "tool_choice": choice,
                "parallel_tool_calls": rng.random() < 0.5,
                "temperature": i % 2,
                "random_seed": i,
                "max_tokens": 256,
            }
        )
    replies = asyncio.run(_post_all(server, cases))
    failures = []
    for case, reply in zip(cases, replies, strict=True):
        try:
            _check_tool_reply(case, reply["choices"][0])
        except (AssertionError, ValueError, jsonschema.ValidationError) as e:
            failures.append(f"{case['tool_choice']} {reply['choices'][0]} !! {e}")
    assert not failures, f"{len(failures)} of {len(cases)} broke:\n" + "\n".join(failures[:5])


def _check_tool_reply(case: dict[str, Any], choice: dict[str, Any]) -> None:
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in case["tools"]}
    calls = choice["message"]["tool_calls"] or []
    mode = case["tool_choice"]
    if mode == "none":
        assert not calls, "tool_choice none yielded a call"
        return
    if choice["finish_reason"] == "length":
        # Only a reply still inside its calls can run out; it must not be counted as calls.
        assert mode != "auto" or not calls
        return
    if mode != "auto":
        assert calls, f"tool_choice {mode} yielded no call"
        assert choice["finish_reason"] == "tool_calls"
    if isinstance(mode, dict):
        assert {c["function"]["name"] for c in calls} == {mode["function"]["name"]}
    if not case["parallel_tool_calls"]:
        assert len(calls) <= 1
    for call in calls:
        assert len(call["id"]) == 9 and call["id"].isalnum()
        _validator(schemas[call["function"]["name"]]).validate(
            json.loads(call["function"]["arguments"])
        )
