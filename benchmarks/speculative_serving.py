"""Prompt-lookup speculation over HTTP, single stream: autan beside llama-server's own.

Starts, on the same GGUF, threads and one slot each, ``autan serve`` three times (``--speculative
off``, ``auto``, ``on``) and llama-server twice (``--spec-type none`` and ``ngram-simple``, its
n-gram lookup decoding, at its default sizes), all up for the whole run and idle but for the one
measured. Each round sends every prompt of ``benchmarks.speculative.WORKLOADS`` (edit, extract,
chat) to each server in turn, the order rotating, streamed and greedy; decode tok/s is the output
tokens after the first over the time from the first to the last.

    .venv/bin/python -m benchmarks.speculative_serving --threads 2 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from pathlib import Path

import httpx

from benchmarks import loadgen
from benchmarks.compare import _machine, _served_id, model_paths, serving
from benchmarks.speculative import WORKLOADS

# (label, server, its extra flags)
SERVERS = [
    ("autan off", "autan", ("--speculative", "off")),
    ("autan auto", "autan", ("--speculative", "auto")),
    ("autan on", "autan", ("--speculative", "on")),
    ("llama-server none", "llama-server", ("--spec-type", "none")),
    ("llama-server ngram-simple", "llama-server", ("--spec-type", "ngram-simple")),
]


async def _decode_speed(url: str, model: str, prompt: str, max_tokens: int) -> tuple[float, int]:
    """(decode tok/s, output tokens) of one streamed greedy request."""
    async with httpx.AsyncClient(timeout=600) as client:
        r = await loadgen.one_request(client, f"{url}/v1", model, prompt, max_tokens)
    if not r.ok:
        raise SystemExit(f"{url}: the request failed")
    return (r.output_tokens - 1) / max(r.latency - r.ttft, 1e-9), r.output_tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--ctx-size", type=int, default=4096)
    ap.add_argument("--servers", default=",".join(label for label, _, _ in SERVERS))
    ap.add_argument(
        "--model",
        default="packaged",
        help="packaged (SmolLM2-135M), code (Qwen2.5-Coder-0.5B of `make code-model`) or a GGUF",
    )
    a = ap.parse_args()
    (model_path,) = model_paths(a.model)
    chosen = [s for s in SERVERS if s[0] in a.servers.split(",")]
    speeds: dict[tuple[str, str], list[float]] = {}
    lengths: dict[tuple[str, str], list[int]] = {}
    with contextlib.ExitStack() as stack:
        urls = {}
        for label, name, flags in chosen:
            args = argparse.Namespace(
                model_path=model_path,
                threads=a.threads,
                parallel=1,
                ctx_size=a.ctx_size,
                gpu_layers=0,
                extra_flags=flags,
            )
            urls[label] = stack.enter_context(serving(name, args))
            asyncio.run(loadgen.warm_up(f"{urls[label]}/v1", _served_id(urls[label])))
        models = {label: _served_id(url) for label, url in urls.items()}
        for round_ in range(a.rounds):
            start = time.perf_counter()
            for workload, prompts in WORKLOADS.items():
                for i, prompt in enumerate(prompts):
                    shift = (round_ + i) % len(urls)
                    order = list(urls)[shift:] + list(urls)[:shift]
                    for label in order:
                        speed, n = asyncio.run(
                            _decode_speed(urls[label], models[label], prompt, a.max_tokens)
                        )
                        speeds.setdefault((workload, label), []).append(speed)
                        lengths.setdefault((workload, label), []).append(n)
            print(f"round {round_ + 1}/{a.rounds}: {time.perf_counter() - start:.0f} s", flush=True)
    print(f"\nmachine: {_machine()}")
    print(
        f"model: {Path(model_path).name}, threads {a.threads}, one slot, greedy, "
        f"{a.max_tokens} output tokens at most, median of {a.rounds} interleaved rounds\n"
    )
    labels = list(urls)
    print("| workload | " + " | ".join(f"{label} tok/s" for label in labels) + " |")
    print("|---|" + "---|" * len(labels))
    for workload in WORKLOADS:
        cells = [f"{statistics.median(speeds[(workload, label)]):.1f}" for label in labels]
        print(f"| {workload} | " + " | ".join(cells) + " |")
    print("\nratios (median tok/s against the same server without speculation):")
    for workload in WORKLOADS:
        med = {label: statistics.median(speeds[(workload, label)]) for label in labels}
        parts = []
        for label, base in (
            ("autan auto", "autan off"),
            ("autan on", "autan off"),
            ("llama-server ngram-simple", "llama-server none"),
        ):
            if label in med and base in med:
                parts.append(f"{label} {med[label] / med[base]:.2f}x")
        if "autan auto" in med and "llama-server ngram-simple" in med:
            ratio = med["autan auto"] / med["llama-server ngram-simple"]
            parts.append(f"autan auto / llama-server ngram-simple {ratio:.2f}x")
        mean_len = {label: statistics.fmean(lengths[(workload, label)]) for label in labels}
        print(f"  {workload}: " + ", ".join(parts) + f"; mean output tokens {mean_len}")


if __name__ == "__main__":
    main()
