"""What a larger ``--ctx-size`` costs: the prefix-cache copy, and c=8 throughput.

In this process, on the packaged SmolLM2, no HTTP:

1. copy: a slot holding a 60-token prompt is copied into another slot, then one token is
   decoded there (llama.cpp performs a stream copy at the next decode), at each context size,
   with llama.cpp's whole-stream ``llama_memory_seq_cp`` and with autan's copy of the used
   cells (``LlamaContext.copy``). Median of ``--copies`` copies.
2. c=8: one engine context per context size (``--parallel 8`` plus the interactive reserve,
   as ``autan serve`` makes them), and one more at the largest size with llama.cpp's
   whole-stream copy (the copy as it was), each running the benchmark prompts of ``loadgen``
   as 8 clients would: 16 greedy requests of ``--max-tokens`` less 0 to 32 (so that they end
   at different steps), a new one as soon as one ends (a repeated prompt whose twin is still
   running hits the prefix cache in a busy slot: a copy). Rounds rotate the engines; prints
   the median output tok/s of each and the ratios.

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
    # Lengths 128, 120, 112, 104, ... apart: requests end at different steps, so a repeated
    # prompt often finds its twin still running (a copy), as HTTP clients make it happen.
    queue = deque(
        (prompts[i % len(prompts)], a.max_tokens - 8 * (i % 5)) for i in range(a.requests)
    )
    live: list[Sequence] = []
    copies = s.stats.prefix_copies
    generated = 0
    start = time.perf_counter()
    while queue or live:
        while queue and len(live) < a.concurrency:
            prompt, max_tokens = queue.popleft()
            seq = Sequence.create(
                prompt,
                SamplingParams(temperature=0.0, max_tokens=max_tokens),
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
    engines: dict[str, tuple[LlamaContext, Scheduler]] = {}
    configs = [(str(size), size) for size in sizes]
    configs.append((f"{sizes[-1]} whole-stream copy", sizes[-1]))
    for label, size in configs:
        ctx = LlamaContext(
            model, streams=streams, context=size, batch_tokens=512, threads=a.threads
        )
        if label.endswith("copy"):  # the copy as it was: llama.cpp's whole-stream seq_cp
            memory = L.llama_get_memory(ctx._ctx)
            ctx.copy = lambda src, dst, m=memory: L.llama_memory_seq_cp(m, src, dst, -1, -1)  # type: ignore[method-assign,misc]
        engines[label] = (ctx, Scheduler(ctx, streams=streams, batch_tokens=512))
    prompts = [chat_prompt(model, p) for p in PROMPTS]
    labels = [label for label, _ in configs]
    sizes_of = dict(configs)
    speeds: dict[str, list[float]] = {label: [] for label in labels}
    copies: dict[str, int] = dict.fromkeys(labels, 0)
    for round_ in range(a.rounds):
        shift = round_ % len(labels)
        for label in labels[shift:] + labels[:shift]:
            speed, n = run_c8(engines[label][1], model, prompts, sizes_of[label], a)
            speeds[label].append(speed)
            copies[label] += n
        line = ", ".join(f"{label}: {speeds[label][-1]:.1f}" for label in labels)
        print(f"round {round_ + 1}/{a.rounds} tok/s: {line}", flush=True)
    print()
    print(
        f"c={a.concurrency}, {a.requests} requests of {a.max_tokens - 32} to {a.max_tokens} "
        f"tokens, greedy, median of {a.rounds} interleaved rounds"
    )
    print("| context | output tok/s | prefix copies |")
    print("|---|---|---|")
    for label in labels:
        print(f"| {label} | {statistics.median(speeds[label]):.1f} | {copies[label]} |")
    base = statistics.median(speeds[labels[0]])
    for label in labels[1:]:
        print(f"ratio {label} / {labels[0]}: {statistics.median(speeds[label]) / base:.2f}x")
    for ctx, _ in engines.values():
        ctx.close()
    model.close()


if __name__ == "__main__":
    main()
