"""Constrained against unconstrained decoding on the same server, prompts and lengths.

Starts ``autan serve`` on the packaged model, then alternates, round after round, the same
streamed requests with and without ``response_format: json_schema``, at each concurrency level.
The schema holds one long string (``minLength`` beyond ``max_tokens``), so both sides write
prose to ``max_tokens`` and tok/s compares the cost per token. Prints the medians
over rounds and the ratio constrained / unconstrained, plus the engine's time in grammar masks.

    .venv/bin/python -m benchmarks.constrained --threads 2 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time

import httpx

from benchmarks import loadgen
from benchmarks.compare import (
    MODEL_ID,
    ROOT,
    _free_port,
    _machine,
    _median_rows,
    _wait_ready,
    autan_serve_cmd,
)

SCHEMA = {
    "type": "object",
    "properties": {"story": {"type": "string", "minLength": 4000}},
    "required": ["story"],
}
CONSTRAINED: dict[str, object] = {
    "response_format": {"type": "json_schema", "json_schema": {"name": "story", "schema": SCHEMA}}
}
MODES: dict[str, dict[str, object] | None] = {"free": None, "json_schema": CONSTRAINED}


def _round(url: str, levels: list[int], a: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    for c in levels:
        for mode, extra in MODES.items():
            n = max(a.requests, c)
            level = asyncio.run(loadgen.run_level(f"{url}/v1", MODEL_ID, c, n, a.max_tokens, extra))
            out[mode].append(level.row())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    levels = [int(x) for x in a.concurrency.split(",")]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    (ROOT / ".bench").mkdir(exist_ok=True)
    cmd = autan_serve_cmd(port, threads=a.threads, parallel=a.parallel, ctx_size=2048)
    with open(ROOT / ".bench" / "constrained.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, proc)
            asyncio.run(loadgen.warm_up(f"{url}/v1", MODEL_ID))
            for extra in MODES.values():  # compile the grammar, build the tokenizer
                asyncio.run(loadgen.run_level(f"{url}/v1", MODEL_ID, 1, 1, 8, extra))
            rounds = []
            for i in range(a.rounds):
                start = time.perf_counter()
                rounds.append(_round(url, levels, a))
                print(f"round {i + 1}/{a.rounds}: {time.perf_counter() - start:.0f}s", flush=True)
            health = httpx.get(f"{url}/health", timeout=5).json()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"\nmachine: {_machine()}; threads {a.threads}, slots {a.parallel}")
    print(f"median of {a.rounds} interleaved rounds, {a.max_tokens} output tokens, greedy\n")
    medians = {m: _median_rows([r[m] for r in rounds]) for m in MODES}
    for mode in MODES:
        print(loadgen.format_rows(mode, medians[mode]), "\n")
    for i, c in enumerate(levels):
        free, constrained = medians["free"][i], medians["json_schema"][i]
        ratio = constrained["output_tok_s"] / free["output_tok_s"]
        print(
            f"c={c}: output tok/s {constrained['output_tok_s']:.1f} constrained vs "
            f"{free['output_tok_s']:.1f} free: {ratio:.2f}x ({(1 - ratio) * 100:+.1f}% overhead)"
        )
    engine = health["models"][0]
    masks, tokens = engine["mask_seconds"], engine["masked_tokens"]
    if masks is not None and tokens:
        print(
            f"grammar masks: {1e6 * masks / tokens:.0f} us per constrained token ({tokens} tokens)"
        )


if __name__ == "__main__":
    main()
