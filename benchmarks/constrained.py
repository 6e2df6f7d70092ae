"""Constrained against unconstrained decoding on the same server, prompts and lengths.

Starts ``autan serve`` on the packaged model, then alternates, round after round, the same
streamed requests with and without ``response_format: json_schema``, at each concurrency level,
and prints the medians over rounds and the ratio constrained / unconstrained output tok/s.

Two workloads (``--workload``):

- ``records`` (default): each request asks for a record matching its own schema of 5 to 20
  keys (short strings, enums, numbers, booleans). Much of such a reply is forced by the
  grammar (keys, quotes, separators); with fast-forward those tokens are decoded as one
  chunk with the sampled token before them, instead of one step each. The unconstrained side
  asks for a prose description of the same schema (so its prompts are as long, and cost as
  much to prefill) with ``max_tokens`` set to the constrained replies' mean length, so both
  sides produce about as many tokens. Output tokens are the usage counts: forced tokens are
  in the reply, and count.
- ``story``: one long free string, so both sides write prose to ``max_tokens``: the cost of the
  grammar's masks per token, with nothing forced.

    .venv/bin/python -m benchmarks.constrained --threads 2 --rounds 3
    .venv/bin/python -m benchmarks.constrained --threads 2 --rounds 3 --no-fast-forward
    .venv/bin/python -m benchmarks.constrained --servers autan,llama-server   # needs make bench

With ``--servers autan,llama-server`` the same requests go to llama-server (its own
``json_schema`` support, same GGUF, threads and slots), both servers up for the whole run and
measured in turn within each round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import time
from collections.abc import Sequence

import httpx

from autan.models.packaged import packaged_model_path
from benchmarks import loadgen
from benchmarks.compare import _machine, _median_rows, _served_id, serving

STORY_SCHEMA = {
    "type": "object",
    "properties": {"story": {"type": "string"}},
    "required": ["story"],
}
STORY: dict[str, object] = {
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "story", "schema": STORY_SCHEMA},
    }
}
_WORDS = ["city", "colour", "size", "owner", "status", "price", "count", "label", "kind"]
_WORDS += ["region", "score", "active", "level", "origin", "model", "weight", "title", "code"]
_WORDS += ["rating", "stock", "maker", "year", "notes", "grade"]


def record_schemas(n: int, seed: int = 2026) -> list[dict[str, object]]:
    """``n`` object schemas of 5 to 20 required keys, every value short and bounded."""
    rng = random.Random(seed)
    schemas: list[dict[str, object]] = []
    for _ in range(n):
        keys = rng.sample(_WORDS, rng.randint(5, 20))
        props: dict[str, object] = {}
        for key in keys:
            kind = rng.choice(["string", "enum", "integer", "number", "boolean"])
            if kind == "string":
                props[key] = {"type": "string", "maxLength": rng.randint(8, 24)}
            elif kind == "enum":
                props[key] = {"enum": rng.sample(["red", "green", "blue", "small", "large"], 3)}
            elif kind == "integer":
                props[key] = {"type": "integer", "minimum": 0, "maximum": 10_000}
            elif kind == "number":
                props[key] = {"type": "number", "minimum": 0, "maximum": 1000}
            else:
                props[key] = {"type": "boolean"}
        schemas.append({"type": "object", "properties": props, "required": keys})
    return schemas


def _record_request(schema: dict[str, object], i: int) -> tuple[str, dict[str, object]]:
    prompt = "Make up one product record as JSON matching this schema: " + json.dumps(schema)
    fmt = {"type": "json_schema", "json_schema": {"name": f"record{i}", "schema": schema}}
    return prompt, {"response_format": fmt}


def _prose_request(schema: dict[str, object]) -> tuple[str, None]:
    """The free side's request: a prompt of the same schema and about the same length."""
    return "Describe in plain sentences a product with these fields: " + json.dumps(schema), None


async def _level(
    url: str, c: int, requests: Sequence[tuple[str, dict[str, object] | None]], max_tokens: int
) -> loadgen.LevelResult:
    """``requests`` (prompt, extra body), ``c`` at a time, as ``loadgen.run_level`` runs them."""
    queue = list(reversed(requests))
    model = _served_id(url)
    level = loadgen.LevelResult(c, 0.0)
    limits = httpx.Limits(max_connections=c + 4, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def worker() -> None:
            while queue:
                prompt, extra = queue.pop()
                result = await loadgen.one_request(
                    client, f"{url}/v1", model, prompt, max_tokens, extra
                )
                level.results.append(result)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(c)))
        level.wall = time.perf_counter() - start
    return level


def _records_round(
    url: str, levels: list[int], a: argparse.Namespace, free_tokens: int
) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {"free": [], "json_schema": []}
    schemas = record_schemas(a.requests)
    for c in levels:
        n = max(a.requests, c)
        constrained = [_record_request(schemas[i % len(schemas)], i) for i in range(n)]
        free = [_prose_request(schemas[i % len(schemas)]) for i in range(n)]
        level = asyncio.run(_level(url, c, constrained, a.record_max_tokens))
        out["json_schema"].append(level.row())
        level = asyncio.run(_level(url, c, free, free_tokens))
        out["free"].append(level.row())
    return out


def _story_round(
    url: str, levels: list[int], a: argparse.Namespace
) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {"free": [], "json_schema": []}
    for c in levels:
        for mode, extra in (("free", None), ("json_schema", STORY)):
            n = max(a.requests, c)
            model = _served_id(url)
            level = asyncio.run(loadgen.run_level(f"{url}/v1", model, c, n, a.max_tokens, extra))
            out[mode].append(level.row())
    return out


def _record_length(url: str, a: argparse.Namespace) -> int:
    """Mean output tokens of the records replies: the free side's ``max_tokens``."""
    schemas = record_schemas(a.requests)
    requests = [_record_request(s, i) for i, s in enumerate(schemas)]
    level = asyncio.run(_level(url, 8, requests, a.record_max_tokens))
    return round(statistics.fmean(r.output_tokens for r in level.ok))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--servers", default="autan", help="autan, llama-server (comma-separated)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--ctx-size", type=int, default=2048, help="tokens per slot")
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--workload", choices=["records", "story"], default="records")
    ap.add_argument("--max-tokens", type=int, default=128, help="story replies' length")
    ap.add_argument("--record-max-tokens", type=int, default=600, help="records replies' cap")
    ap.add_argument(
        "--fast-forward",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the engine setting AUTAN_ENGINE__FAST_FORWARD",
    )
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    a.model_path = str(packaged_model_path())
    a.gpu_layers = 0
    levels = [int(x) for x in a.concurrency.split(",")]
    names = a.servers.split(",")
    os.environ["AUTAN_ENGINE__FAST_FORWARD"] = str(a.fast_forward).lower()
    rounds: dict[str, list[dict[str, list[dict[str, float]]]]] = {n: [] for n in names}
    free_tokens: dict[str, int] = {}
    health = None
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(serving(name, a)) for name in names}
        for name, url in urls.items():
            model = _served_id(url)
            asyncio.run(loadgen.warm_up(f"{url}/v1", model))
            # Compile the grammars, build the tokenizer; measure the records' length.
            asyncio.run(loadgen.run_level(f"{url}/v1", model, 1, 1, 8, STORY))
            records = a.workload == "records"
            free_tokens[name] = _record_length(url, a) if records else a.max_tokens
        for i in range(a.rounds):
            for name, url in urls.items():
                start = time.perf_counter()
                if a.workload == "records":
                    rounds[name].append(_records_round(url, levels, a, free_tokens[name]))
                else:
                    rounds[name].append(_story_round(url, levels, a))
                took = time.perf_counter() - start
                print(f"round {i + 1}/{a.rounds}, {name}: {took:.0f}s", flush=True)
        if "autan" in urls:
            health = httpx.get(f"{urls['autan']}/health", timeout=5).json()
    print(f"\nmachine: {_machine()}; threads {a.threads}, slots {a.parallel}")
    print(
        f"workload {a.workload}, autan's fast-forward {'on' if a.fast_forward else 'off'}; "
        f"median of {a.rounds} interleaved rounds, {a.requests} requests a level, greedy; "
        f"free replies' max_tokens {free_tokens}\n"
    )
    for name in names:
        medians = {m: _median_rows([r[m] for r in rounds[name]]) for m in ("free", "json_schema")}
        for mode, rows in medians.items():
            print(loadgen.format_rows(f"{name}, {mode}", rows), "\n")
        for i, c in enumerate(levels):
            free, constrained = medians["free"][i], medians["json_schema"][i]
            ratio = constrained["output_tok_s"] / free["output_tok_s"]
            decode = constrained["decode_tok_s_p50"] / free["decode_tok_s_p50"]
            print(
                f"{name} c={c}: output tok/s {constrained['output_tok_s']:.1f} constrained vs "
                f"{free['output_tok_s']:.1f} free: {ratio:.2f}x; one stream's decode tok/s "
                f"(p50, from its first token) {constrained['decode_tok_s_p50']:.1f} vs "
                f"{free['decode_tok_s_p50']:.1f}: {decode:.2f}x"
            )
        print()
    engine = health["models"][0] if health else None
    if engine and engine["mask_seconds"] is not None and engine["masked_tokens"]:
        masks, tokens = engine["mask_seconds"], engine["masked_tokens"]
        print(
            f"autan grammar masks: {1e6 * masks / tokens:.0f} us per sampled constrained token "
            f"({tokens} tokens); forced tokens decoded without a step: "
            f"{engine.get('forced_tokens')}"
        )


if __name__ == "__main__":
    main()
