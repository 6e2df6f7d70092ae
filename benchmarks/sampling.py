"""Per-token cost of our sampler on a 49,152-entry vocabulary (SmolLM2's), side by side with
the naive full softmax + ``rng.choice`` it replaces.

    .venv/bin/python -m benchmarks.sampling
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from autan.inference.sampling import Sampler, SamplingParams


def _naive(logits: np.ndarray, rng: np.random.Generator, temperature: float) -> int:
    z = logits / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    return int(rng.choice(len(p), p=p))


def _time_us(fn: Callable[[], int], n: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def model_logits() -> np.ndarray | None:
    """Real next-token logits of the packaged model after a chat prompt, if it is installed."""
    try:
        from autan.inference.llama import LlamaContext, LlamaModel
        from autan.inference.scheduler import BatchPlan
        from autan.models.packaged import packaged_model_path

        model = LlamaModel(packaged_model_path())
    except Exception:
        return None
    ctx = LlamaContext(model, streams=1, context=256, batch_tokens=64, threads=1)
    prompt = model.tokenize(
        "<|im_start|>user\nWrite a story about a dragon.<|im_end|>\n<|im_start|>assistant\n",
        add_special=False,
        parse_special=True,
    )
    n = len(prompt)
    ctx.decode(BatchPlan(prompt, list(range(n)), [0] * n, [False] * (n - 1) + [True]))
    logits = ctx.logits(n - 1).copy()
    ctx.close()
    model.close()
    return logits


def measure(vocab: int = 49152, n: int = 2000) -> list[tuple[str, float]]:
    real = model_logits() if vocab == 49152 else None
    if real is not None:
        logits = real
    else:  # peaked like a language model's logits: a few likely tokens over a long tail
        rng = np.random.default_rng(0)
        logits = (rng.standard_normal(vocab) * 2.0).astype(np.float32)
        logits[rng.integers(0, vocab, 5)] += 12.0
    rows: list[tuple[str, float]] = []
    for label, params in [
        ("greedy (temperature 0)", SamplingParams(temperature=0.0)),
        ("temperature 0.7", SamplingParams(temperature=0.7, seed=1)),
        ("temperature 0.7, top_p 0.9", SamplingParams(temperature=0.7, top_p=0.9, seed=1)),
        (
            "temperature 0.7 + penalties",
            SamplingParams(temperature=0.7, presence_penalty=0.5, frequency_penalty=0.5, seed=1),
        ),
    ]:
        s = Sampler(params)
        for t in range(64):
            s.accept(t)
        rows.append((label, _time_us(lambda s=s: s.sample(logits), n)))  # type: ignore[misc]
    naive_rng = np.random.default_rng(1)
    rows.append(
        ("naive softmax + rng.choice", _time_us(lambda: _naive(logits, naive_rng, 0.7), n // 4))
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vocab", type=int, default=49152)
    a = ap.parse_args()
    rows = measure(a.vocab)
    naive = rows[-1][1]
    print(f"sampling cost per token, vocabulary {a.vocab} (the packaged model's logits)")
    for label, us in rows:
        print(f"  {label:<32} {us:8.1f} us   ({naive / us:4.1f}x faster than naive)")


if __name__ == "__main__":
    main()
