"""One decode step of eight sequences, by the order of its rows, in process.

    .venv/bin/python -m benchmarks.slot_order --threads 2 --rounds 3

With one KV stream per slot, llama.cpp puts in one micro-batch only a run of consecutive
sequence ids, in batch order. This writes the batch as given (rows in admission order, as
autan did before) and through ``LlamaContext.decode`` (rows in slot order, lone gaps padded),
side by side, on the packaged model.
"""

from __future__ import annotations

import argparse
import statistics
import time

from autan.inference.llama import LlamaContext, LlamaModel
from autan.inference.scheduler import BatchPlan
from autan.models.packaged import packaged_model_path

ORDERS = {
    "slot order": [0, 1, 2, 3, 4, 5, 6, 7],
    "scrambled": [3, 0, 1, 2, 5, 4, 7, 6],
    "reversed": [7, 6, 5, 4, 3, 2, 1, 0],
    "gaps at 2 and 5": [0, 1, 3, 4, 6, 7],
}


def _as_given(ctx: LlamaContext, plan: BatchPlan) -> None:
    """The batch in the plan's own row order: what llama.cpp gets without our reordering."""
    ctx.decode_rows(plan.tokens, plan.positions, plan.slots, plan.want_logits)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="decode steps timed per figure")
    a = ap.parse_args()
    model = LlamaModel(packaged_model_path())
    ctx = LlamaContext(model, streams=8, context=2048, batch_tokens=512, threads=a.threads)
    prompt = model.tokenize("Tell me a long story about a lighthouse. " * 6, add_special=True,
                            parse_special=False)  # fmt: skip
    n = len(prompt)
    for slot in range(8):
        ctx.decode(BatchPlan(prompt, list(range(n)), [slot] * n, [False] * n))
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(a.rounds):
        for name, order in ORDERS.items():
            for how, decode in (("as given", _as_given), ("autan", LlamaContext.decode)):
                start = time.perf_counter()
                for i in range(a.steps):
                    k = len(order)
                    decode(ctx, BatchPlan([100] * k, [n + i] * k, order, [True] * k))
                times.setdefault((name, how), []).append(
                    (time.perf_counter() - start) / a.steps * 1000
                )
                for slot in order:
                    ctx.truncate(slot, n)
    print(f"packaged model, {a.threads} threads, median ms per decode step over {a.rounds} rounds")
    print(f"{'rows':<18} {'as given':>9} {'autan':>9}")
    for name in ORDERS:
        given = statistics.median(times[(name, "as given")])
        ours = statistics.median(times[(name, "autan")])
        print(f"{name:<18} {given:>9.1f} {ours:>9.1f}")
    ctx.close()
    model.close()


if __name__ == "__main__":
    main()
