"""Single-stream decode speed with and without prompt-lookup speculation, side by side.

Loads the model (``--model``: the packaged SmolLM2 unless told) once, in this process, with
one single-stream context and scheduler (no HTTP, no prefix cache: every run decodes its
prompt cold), and runs each prompt with speculation off, auto (the default: drafts only where
they pay on this machine) and on (forced), rotating which goes first, for ``--rounds`` rounds.
Three workloads, greedy, ``--max-tokens`` output tokens:

- edit: "rewrite this code with one change" (the reply copies most of the prompt);
- extract: "quote these fields from the document" (the reply copies spans of it);
- chat: free questions (little to copy: speculation must cost next to nothing).

Decode speed is output tokens after the first over the time from the first to the last (the
prompt's prefill is the same either way). Prints per workload the median tok/s of each mode,
the ratios auto / off and on / off, the share of draft tokens accepted, and checks that every
mode gave the same text.

    .venv/bin/python -m benchmarks.speculative --threads 2 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from autan.inference.llama import LlamaContext, LlamaModel
from autan.inference.sampling import SamplingParams
from autan.inference.scheduler import Scheduler
from autan.inference.sequence import Sequence
from autan.inference.speculation import SpeculationMode
from benchmarks.compare import _machine, model_paths

CODE = """def load_orders(path):
    orders = []
    with open(path) as f:
        for line in f:
            fields = line.strip().split(",")
            orders.append({"id": fields[0], "amount": float(fields[1])})
    return orders


def total(orders):
    return sum(order["amount"] for order in orders)
"""
DOCUMENT = """Invoice INV-2291, issued on 12 March 2026 by Harbour Tools Ltd, 14 Quay Street,
Bristol BS1 4DJ, to Linden Bakery, 3 Mill Lane, Bath BA2 1QT. Payment terms: 30 days.
Items: 4 stainless mixing bowls at 18.50 each; 2 proofing baskets at 12.00 each;
1 deck oven service at 240.00. Total due: 338.00 GBP. Contact: accounts@harbourtools.example.
"""
WORKLOADS = {
    "edit": [
        "Rewrite this code so that load_orders skips empty lines. Reply with the whole code.\n"
        + CODE,
        "Rename the function total to order_total in this code. Reply with the whole code.\n"
        + CODE,
    ],
    "extract": [
        "Quote, word for word, the seller's name and address, the buyer's name and address, "
        "and the items, from this invoice.\n" + DOCUMENT,
    ],
    "chat": [
        "Write a short story about a lighthouse keeper who finds a message in a bottle.",
        "What are three good habits for staying healthy while working from home?",
    ],
}


SMOLLM_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chat_prompt(model: LlamaModel, text: str, system: str = SMOLLM_SYSTEM) -> list[int]:
    """ChatML, the chat template of both SmolLM2 and Qwen2.5, with a system turn (SmolLM2's
    default unless told)."""
    rendered = (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{text}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    return model.tokenize(rendered, add_special=False, parse_special=True)


def run_one(
    s: Scheduler, model: LlamaModel, prompt: list[int], max_tokens: int, context: int
) -> tuple[float, list[int], int, int]:
    """(decode tok/s, output, draft tokens, accepted tokens) of one greedy generation."""
    drafts, accepted = s.stats.draft_tokens, s.stats.accepted_tokens
    seq = Sequence.create(
        prompt,
        SamplingParams(temperature=0.0, max_tokens=max_tokens),
        lambda out: None,
        context=context,
        piece=model.piece,
    )
    s.add(seq)
    while s.has_work:
        s.step()
    t = seq.timings
    speed = (len(seq.output) - 1) / max(t.last_token - t.first_token, 1e-9)
    return (
        speed,
        seq.output,
        s.stats.draft_tokens - drafts,
        s.stats.accepted_tokens - accepted,
    )


def _divergence(a: list[int], b: list[int]) -> int | None:
    """The index of the first token where ``a`` and ``b`` differ, None if they are the same."""
    if a == b:
        return None
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def _sameness(divergences: list[int | None]) -> str:
    """ "all" when every run gave speculation off's text, else how many did and the earliest
    divergence.

    Greedy speculation picks each row's argmax, so it gives off's text wherever a decode of
    ``k + 1`` rows computes the same logits as ``k + 1`` one-row decodes: on SmolLM2 (Q4_1)
    to the bit while the KV in view is under 512 cells. From 512 cells a one-row decode sums
    its attention in another order, and on Q4_K_M files llama.cpp multiplies four rows or
    more with other kernels than one: the logits move, and a near tie can flip, as batching
    the request with others' already does.
    """
    differing = [d for d in divergences if d is not None]
    if not differing:
        return "all"
    same = len(divergences) - len(differing)
    return f"{same}/{len(divergences)} (first differs at token {min(differing)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--context", type=int, default=2048)
    ap.add_argument(
        "--model",
        default="packaged",
        help="packaged (SmolLM2-135M), code (Qwen2.5-Coder-0.5B of `make code-model`) or a GGUF",
    )
    a = ap.parse_args()
    (path,) = model_paths(a.model)
    system = SMOLLM_SYSTEM if a.model == "packaged" else "You are a helpful assistant."
    model = LlamaModel(Path(path))
    ctx = LlamaContext(model, streams=1, context=a.context, batch_tokens=512, threads=a.threads)
    s = Scheduler(ctx, streams=1, batch_tokens=512, prefix_cache=False)
    prompts = {w: [chat_prompt(model, p, system) for p in ps] for w, ps in WORKLOADS.items()}
    speeds: dict[tuple[str, SpeculationMode], list[float]] = {}
    modes = [SpeculationMode.OFF, SpeculationMode.AUTO, SpeculationMode.ON]
    drafted = {(w, m): [0, 0] for w in WORKLOADS for m in modes}
    # Per run, the tokens each mode's text shares with speculation off before it differs.
    diverged: dict[tuple[str, SpeculationMode], list[int | None]] = {
        (w, m): [] for w in WORKLOADS for m in modes[1:]
    }
    for round_ in range(a.rounds):
        start = time.perf_counter()
        for workload, items in prompts.items():
            for i, prompt in enumerate(items):
                outputs = {}
                # Rotate which mode goes first: drift within a round falls on all alike.
                shift = (round_ + i) % len(modes)
                for mode in modes[shift:] + modes[:shift]:
                    s.speculator.mode = mode
                    speed, out, d, acc = run_one(s, model, prompt, a.max_tokens, a.context)
                    speeds.setdefault((workload, mode), []).append(speed)
                    outputs[mode] = out
                    drafted[(workload, mode)][0] += d
                    drafted[(workload, mode)][1] += acc
                for mode in modes[1:]:
                    diverged[(workload, mode)].append(_divergence(outputs[mode], outputs[modes[0]]))
        print(f"round {round_ + 1}/{a.rounds}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"machine: {_machine()}")
    print(
        f"model: {Path(path).name}, threads {a.threads}, one stream, greedy, "
        f"{a.max_tokens} output tokens, median of {a.rounds} interleaved rounds "
        "; decode costs measured by auto, in one-row decodes: "
        + ", ".join(f"{n} rows {s.speculator.cost.relative(n):.2f}" for n in (2, 4, 8, 12, 16))
    )
    print()
    print(
        "| workload | off tok/s | auto tok/s | on tok/s | auto / off | on / off "
        "| accepted (auto) | accepted (on) | same text as off (auto, on) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for workload in WORKLOADS:
        off, auto, on = (statistics.median(speeds[(workload, m)]) for m in modes)
        shares = []
        for mode in modes[1:]:
            d, acc = drafted[(workload, mode)]
            shares.append(f"{acc}/{d}" + (f" ({acc / d:.0%})" if d else ""))
        print(
            f"| {workload} | {off:.1f} | {auto:.1f} | {on:.1f} | {auto / off:.2f}x "
            f"| {on / off:.2f}x | {shares[0]} | {shares[1]} "
            f"| {_sameness(diverged[(workload, modes[1])])}, "
            f"{_sameness(diverged[(workload, modes[2])])} |"
        )
    ctx.close()
    model.close()


if __name__ == "__main__":
    main()
