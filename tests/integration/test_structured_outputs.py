"""Property tests on the real model: whatever the schema or tool set, what comes back obeys it.

Schemas and tool sets are generated from fixed seeds (``tests/schema_cases.py``); requests run
eight at a time against the real server, at temperature 0 and 1.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
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


async def _post_all(
    server: Server, bodies: list[dict[str, Any]], *, status: int = 200
) -> list[dict[str, Any]]:
    limit = asyncio.Semaphore(8)

    async def one(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
        async with limit:
            r = await client.post(f"{server.url}/v1/chat/completions", json=body)
        assert r.status_code == status, r.text
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


def _schema_body(i: int, schema: dict[str, Any], **fields: Any) -> dict[str, Any]:
    prompt = "Write a long and detailed record as JSON matching this schema: "
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt + json.dumps(schema)}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": f"case{i}", "schema": schema},
        },
        "random_seed": i,
        **fields,
    }


def _shortest(server: Server, bodies: list[dict[str, Any]]) -> list[int]:
    """The fewest tokens each request's grammar takes, from the 400 that max_tokens 1 gets."""
    errors = asyncio.run(_post_all(server, [{**b, "max_tokens": 1} for b in bodies], status=400))
    found = []
    for error in errors:
        assert error["param"] == "max_tokens", error
        match = re.search(r"takes (\d+) tokens", error["message"])
        assert match is not None, error
        found.append(int(match.group(1)))
    return found


@pytest.mark.timeout(1200)
def test_generated_schemas_validate_on_the_smallest_budgets(server: Server) -> None:
    """A budget too small for the model's own reply: the engine closes it, valid, with
    ``length``; never a reply cut mid-string."""
    gen = SchemaGen(seed=2026)
    schemas = [gen.schema() for _ in range(N_SCHEMAS // 2)]
    probes = [_schema_body(i, s) for i, s in enumerate(schemas)]
    shortest = _shortest(server, probes)
    bodies = [
        {**probe, "max_tokens": n + extra, "temperature": temperature}
        for probe, n in zip(probes, shortest, strict=True)
        for extra, temperature in ((0, 1), (8, 0))
    ]
    replies = asyncio.run(_post_all(server, bodies))
    failures, closed = [], 0
    for body, reply in zip(bodies, replies, strict=True):
        choice = reply["choices"][0]
        schema = body["response_format"]["json_schema"]["schema"]
        content = choice["message"]["content"]
        try:
            assert choice["finish_reason"] in ("stop", "length"), choice["finish_reason"]
            assert reply["usage"]["completion_tokens"] <= body["max_tokens"]
            _validator(schema).validate(json.loads(content))
            closed += choice["finish_reason"] == "length"
        except (AssertionError, ValueError, jsonschema.ValidationError) as e:
            failures.append(f"{json.dumps(schema)} max_tokens {body['max_tokens']}")
            failures.append(f"  -> {content!r}\n  !! {e}")
    assert not failures, f"{len(failures) // 2} of {len(replies)} invalid:\n" + "\n".join(
        failures[:10]
    )
    assert closed > len(replies) // 4  # the budgets did bite


@pytest.mark.timeout(1200)
def test_forced_tool_calls_on_the_smallest_budgets_come_back_whole(server: Server) -> None:
    gen = SchemaGen(seed=11)
    rng = random.Random(11)
    probes = []
    for i in range(N_TOOL_SETS // 2):
        tools = gen.tools()
        choice: Any = rng.choice(["any", "required", "named"])
        if choice == "named":
            choice = {
                "type": "function",
                "function": {"name": rng.choice(tools)["function"]["name"]},
            }
        probes.append(
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": "Use the tools to help me plan a trip."}],
                "tools": tools,
                "tool_choice": choice,
                "parallel_tool_calls": rng.random() < 0.5,
                "random_seed": i,
            }
        )
    shortest = _shortest(server, probes)
    cases = [
        {**probe, "max_tokens": n + extra, "temperature": 1, "stream": stream}
        for probe, n in zip(probes, shortest, strict=True)
        for extra, stream in ((0, False), (6, True))
    ]
    replies = asyncio.run(_stream_all(server, cases))
    failures = []
    for case, choice in zip(cases, replies, strict=True):
        try:
            _check_tool_reply(case, choice)
        except (AssertionError, ValueError, jsonschema.ValidationError) as e:
            failures.append(f"{case['tool_choice']} {case['max_tokens']} {choice} !! {e}")
    assert not failures, f"{len(failures)} of {len(cases)} broke:\n" + "\n".join(failures[:5])


async def _stream_all(server: Server, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each reply's choice as one message, streamed or not."""
    limit = asyncio.Semaphore(8)

    async def one(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
        async with limit:
            if not body.get("stream"):
                r = await client.post(f"{server.url}/v1/chat/completions", json=body)
                assert r.status_code == 200, r.text
                return r.json()["choices"][0]  # type: ignore[no-any-return]
            calls: list[dict[str, Any]] = []
            finish = None
            async with client.stream("POST", f"{server.url}/v1/chat/completions", json=body) as r:
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    if not line.startswith("data: {"):
                        continue
                    choice = json.loads(line[6:])["choices"][0]
                    calls += choice["delta"].get("tool_calls") or []
                    finish = choice["finish_reason"] or finish
            return {"message": {"tool_calls": calls}, "finish_reason": finish}

    async with httpx.AsyncClient(timeout=600) as client:
        return await asyncio.gather(*(one(client, b) for b in bodies))


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
    """A forced call comes back whole and valid even when the budget closed it (``length``);
    a reply cut in text under ``auto`` has no call."""
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in case["tools"]}
    calls = choice["message"]["tool_calls"] or []
    mode = case["tool_choice"]
    if mode == "none":
        assert not calls, "tool_choice none yielded a call"
        return
    if mode != "auto":
        assert calls, f"tool_choice {mode} yielded no call"
        assert choice["finish_reason"] in ("tool_calls", "length"), choice["finish_reason"]
    if isinstance(mode, dict):
        assert {c["function"]["name"] for c in calls} == {mode["function"]["name"]}
    if not case["parallel_tool_calls"]:
        assert len(calls) <= 1
    for call in calls:
        assert len(call["id"]) == 9 and call["id"].isalnum()
        _validator(schemas[call["function"]["name"]]).validate(
            json.loads(call["function"]["arguments"])
        )
