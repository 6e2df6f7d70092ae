"""Single-stream decode speed with and without prompt-lookup speculation, side by side.

Loads the packaged SmolLM2 once, in this process, with one single-stream context and
scheduler (no HTTP, no prefix cache: every run decodes its prompt cold), and runs each prompt
with speculation off, auto (the default: drafts only where they pay on this machine) and on
(forced), rotating which goes first, for ``--rounds`` rounds. Three
workloads, greedy, ``--max-tokens`` output tokens:

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

from autan.inference.llama import LlamaContext, LlamaModel
from autan.inference.sampling import SamplingParams
from autan.inference.scheduler import Scheduler
from autan.inference.sequence import Sequence
from autan.inference.speculation import SpeculationMode
from autan.models.packaged import packaged_model_path
from benchmarks.compare import _machine

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


def chat_prompt(model: LlamaModel, text: str) -> list[int]:
    """SmolLM2's chat template (ChatML) with its default system turn."""
    rendered = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        f"Face<|im_end|>\n<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--context", type=int, default=2048)
    a = ap.parse_args()
    model = LlamaModel(packaged_model_path())
    ctx = LlamaContext(model, streams=1, context=a.context, batch_tokens=512, threads=a.threads)
    s = Scheduler(ctx, streams=1, batch_tokens=512, prefix_cache=False)
    prompts = {w: [chat_prompt(model, p) for p in ps] for w, ps in WORKLOADS.items()}
    speeds: dict[tuple[str, SpeculationMode], list[float]] = {}
    modes = [SpeculationMode.OFF, SpeculationMode.AUTO, SpeculationMode.ON]
    drafted = {(w, m): [0, 0] for w in WORKLOADS for m in modes}
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
                if len({tuple(o) for o in outputs.values()}) != 1:
                    raise SystemExit(f"{workload} prompt {i}: the outputs differ")
        print(f"round {round_ + 1}/{a.rounds}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"machine: {_machine()}")
    print(
        f"model: {packaged_model_path().name}, threads {a.threads}, one stream, greedy, "
        f"{a.max_tokens} output tokens, median of {a.rounds} interleaved rounds "
        "(outputs identical in every mode); row cost measured by auto: "
        f"{s.speculator.cost.share:.2f} of a one-row step"
    )
    print()
    print(
        "| workload | off tok/s | auto tok/s | on tok/s | auto / off | on / off "
        "| accepted (auto) | accepted (on) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for workload in WORKLOADS:
        off, auto, on = (statistics.median(speeds[(workload, m)]) for m in modes)
        shares = []
        for mode in modes[1:]:
            d, acc = drafted[(workload, mode)]
            shares.append(f"{acc}/{d}" + (f" ({acc / d:.0%})" if d else ""))
        print(
            f"| {workload} | {off:.1f} | {auto:.1f} | {on:.1f} | {auto / off:.2f}x "
            f"| {on / off:.2f}x | {shares[0]} | {shares[1]} |"
        )
    ctx.close()
    model.close()


if __name__ == "__main__":
    main()
