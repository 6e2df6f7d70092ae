"""What a larger ``--ctx-size`` costs: the prefix-cache copy, and c=8 throughput.

In this process, on the packaged SmolLM2, no HTTP:

1. copy: a slot holding a 60-token prompt is copied into another slot, then one token is
   decoded there (llama.cpp performs a stream copy at the next decode), at each context size,
   with llama.cpp's whole-stream ``llama_memory_seq_cp`` and with autan's copy of the used
   cells (``LlamaContext.copy``). Median of ``--copies`` copies.
2. c=8: one engine context per context size (``--parallel 8`` plus the interactive reserve,
   as ``autan serve`` makes them), each running the benchmark prompts of ``loadgen`` as 8
   clients would: 16 greedy requests of ``--max-tokens``, a new one as soon as one ends (the
   repeated prompts hit the prefix cache, in a busy slot: a copy). Rounds alternate the
   context sizes; prints the median output tok/s of each and the ratio.

    .venv/bin/python -m benchmarks.ctx_size --threads 2 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import deque

import llama_cpp as L

from autan.inference.llama import LlamaContext, LlamaModel
from autan.inference.sampling import SamplingParams
from autan.inference.scheduler import BatchPlan, Scheduler
from autan.inference.sequence import Sequence, SequenceStatus
from autan.models.packaged import packaged_model_path
from benchmarks.compare import _machine
from benchmarks.loadgen import PROMPTS
from benchmarks.speculative import chat_prompt


def time_copies(model: LlamaModel, context: int, n: int, threads: int) -> tuple[float, float]:
    """Median ms of (whole-stream copy, used-cell copy), each with the decode that follows."""
    ctx = LlamaContext(model, streams=2, context=context, batch_tokens=128, threads=threads)
    prompt = chat_prompt(model, " ".join(PROMPTS))[:60]
    ctx.decode(BatchPlan(prompt, list(range(60)), [0] * 60, [False] * 59 + [True]))
    memory = L.llama_get_memory(ctx._ctx)
    times: dict[str, list[float]] = {"stream": [], "cells": []}
    for _ in range(n):
        for kind in times:
            ctx.truncate(1, 0)
            start = time.perf_counter()
            if kind == "stream":
                L.llama_memory_seq_cp(memory, 0, 1, -1, -1)
            else:
                ctx.copy(0, 1)
            ctx.truncate(1, 59)
            ctx.decode(BatchPlan([prompt[59]], [59], [1], [True]))
            times[kind].append((time.perf_counter() - start) * 1e3)
    ctx.close()
    return statistics.median(times["stream"]), statistics.median(times["cells"])


def run_c8(
    s: Scheduler, model: LlamaModel, prompts: list[list[int]], context: int, a: argparse.Namespace
) -> tuple[float, int]:
    """(output tok/s, prefix copies) of 16 requests, 8 at a time."""
    queue = deque(prompts[i % len(prompts)] for i in range(a.requests))
    live: list[Sequence] = []
    copies = s.stats.prefix_copies
    generated = 0
    start = time.perf_counter()
    while queue or live:
        while queue and len(live) < a.concurrency:
            seq = Sequence.create(
                queue.popleft(),
                SamplingParams(temperature=0.0, max_tokens=a.max_tokens),
                lambda out: None,
                context=context,
                piece=model.piece,
            )
            s.add(seq)
            live.append(seq)
        s.step()
        for seq in [q for q in live if q.status is SequenceStatus.FINISHED]:
            generated += len(seq.output)
            live.remove(seq)
    return generated / (time.perf_counter() - start), s.stats.prefix_copies - copies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--contexts", default="2048,4096")
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    a = ap.parse_args()
    sizes = [int(x) for x in a.contexts.split(",")]
    model = LlamaModel(packaged_model_path())
    print(f"machine: {_machine()}")
    print(f"model: {packaged_model_path().name}, threads {a.threads}")
    print()
    print("| context | whole-stream copy + decode ms | used-cell copy + decode ms |")
    print("|---|---|---|")
    for size in sizes:
        stream, cells = time_copies(model, size, a.copies, a.threads)
        print(f"| {size} | {stream:.1f} | {cells:.1f} |", flush=True)
    print()
    streams = a.concurrency + 1  # --parallel 8 and the interactive reserve
    engines = {}
    for size in sizes:
        ctx = LlamaContext(
            model, streams=streams, context=size, batch_tokens=512, threads=a.threads
        )
        engines[size] = (ctx, Scheduler(ctx, streams=streams, batch_tokens=512))
    prompts = [chat_prompt(model, p) for p in PROMPTS]
    speeds: dict[int, list[float]] = {size: [] for size in sizes}
    copies: dict[int, int] = dict.fromkeys(sizes, 0)
    for round_ in range(a.rounds):
        order = sizes if round_ % 2 == 0 else sizes[::-1]
        for size in order:
            speed, n = run_c8(engines[size][1], model, prompts, size, a)
            speeds[size].append(speed)
            copies[size] += n
        line = ", ".join(f"{size}: {speeds[size][-1]:.1f}" for size in sizes)
        print(f"round {round_ + 1}/{a.rounds} tok/s: {line}", flush=True)
    print()
    print(
        f"c={a.concurrency}, {a.requests} requests of {a.max_tokens} tokens, greedy, median of "
        f"{a.rounds} interleaved rounds"
    )
    print("| context | output tok/s | prefix copies |")
    print("|---|---|---|")
    for size in sizes:
        print(f"| {size} | {statistics.median(speeds[size]):.1f} | {copies[size]} |")
    base = statistics.median(speeds[sizes[0]])
    for size in sizes[1:]:
        print(f"ratio {size} / {sizes[0]}: {statistics.median(speeds[size]) / base:.2f}x")
    for ctx, _ in engines.values():
        ctx.close()
    model.close()


if __name__ == "__main__":
    main()
