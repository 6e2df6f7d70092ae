"""The cost of one decode step by its number of rows, in process: why batch lines get more
slots than interactive requests.

    .venv/bin/python -m benchmarks.step_rows --threads 2 --rounds 3

Each row is one sequence decoding its next token after the same short prompt, rows in slot
order (one micro-batch), on the packaged model. Printed: the median milliseconds per step and
per generated token over ``--rounds`` interleaved rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from autan.inference.llama import LlamaContext, LlamaModel
from autan.inference.scheduler import BatchPlan
from autan.models.packaged import packaged_model_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=16, help="decode steps timed per figure")
    ap.add_argument("--rows", default="1,4,8,12,16,24", help="rows per step, comma-separated")
    a = ap.parse_args()
    counts = [int(n) for n in a.rows.split(",")]
    slots = max(counts)
    model = LlamaModel(packaged_model_path())
    ctx = LlamaContext(model, streams=slots, context=256, batch_tokens=512, threads=a.threads)
    prompt = model.tokenize(
        "Tell me a story about a lighthouse keeper and the sea.", add_special=True,
        parse_special=False,
    )  # fmt: skip
    n = len(prompt)
    for slot in range(slots):
        ctx.decode(BatchPlan(prompt, list(range(n)), [slot] * n, [False] * n))
    times: dict[int, list[float]] = {k: [] for k in counts}
    for _ in range(a.rounds):
        for k in counts:
            start = time.perf_counter()
            for i in range(a.steps):
                ctx.decode(BatchPlan([100] * k, [n + i] * k, list(range(k)), [True] * k))
            times[k].append((time.perf_counter() - start) / a.steps * 1000)
            for slot in range(k):
                ctx.truncate(slot, n)
    print(f"packaged model, {a.threads} threads, median over {a.rounds} rounds of {a.steps} steps")
    print(f"{'rows':>5} {'ms/step':>8} {'ms/token':>9}")
    for k in counts:
        ms = statistics.median(times[k])
        print(f"{k:>5} {ms:>8.1f} {ms / k:>9.2f}")
    ctx.close()
    model.close()


if __name__ == "__main__":
    main()
