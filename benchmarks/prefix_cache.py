"""Time to first token with and without a prefix-cache hit, side by side in one run.

Starts ``autan serve`` twice on the packaged model, with the prefix cache on and with
``--no-prefix-cache``. Every request carries a ~1,000-token system prompt and a short user
question, different each time. Rounds alternate three kinds of request:

- hit: the shared system prompt again (cache on): only the question is decoded;
- miss: a system prompt of the same length that no earlier request sent (cache on);
- off: the shared system prompt on the server started with ``--no-prefix-cache``.

Prints the median TTFT of each kind over the rounds and the ratios miss / hit and off / hit
(target: miss / hit >= 3x), and the engine's prefix counters from /health.

    .venv/bin/python -m benchmarks.prefix_cache --threads 2 --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks import loadgen
from benchmarks.compare import (
    MODEL_ID,
    ROOT,
    _free_port,
    _machine,
    autan_serve_cmd,
    engine_health,
    running,
)

RULES = [
    "Greet the customer by name when the name is known, and never invent one.",
    "Quote prices in euros with two decimals, taxes included, and say so.",
    "Orders ship within two working days; express delivery costs 9.90 euros.",
    "Returns are accepted for thirty days in the original packaging.",
    "Refunds go back to the card used for the purchase within five working days.",
    "Never ask for a full card number, a password or a security code.",
    "Hand over to a person when the customer asks twice or sounds upset.",
    "Gift cards cannot be refunded or exchanged for cash in any country.",
    "Products marked final sale cannot be returned unless they arrive damaged.",
    "Warranty claims need the order number and a photo of the defect.",
]
QUESTIONS = [
    "Can I return a jacket I bought last week?",
    "How long does delivery take to Lyon?",
    "My parcel arrived damaged, what should I do?",
    "Do you ship to Belgium, and what does it cost?",
    "Can I pay with a gift card and a credit card together?",
    "When will I see my refund on my card?",
    "Is the warranty valid if I lost the receipt?",
    "Can I change the delivery address after ordering?",
]


def system_prompt(tag: str, sections: int) -> str:
    """A support desk's instructions, ``sections`` numbered copies of the rules; ``tag``
    opens the prompt so that two tags share no prefix beyond the chat template's header."""
    lines = [f"Instructions {tag}. You are the support desk of an online shop."]
    for s in range(1, sections + 1):
        lines.append(f"Section {s}.")
        lines.extend(f"{s}.{i} {rule}" for i, rule in enumerate(RULES, 1))
    return "\n".join(lines)


def body(system: str, question: str) -> dict[str, object]:
    return {
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}]
    }


@contextmanager
def autan_server(a: argparse.Namespace, *flags: str) -> Iterator[str]:
    port = _free_port()
    cmd = autan_serve_cmd(
        port, threads=a.threads, parallel=a.parallel, ctx_size=a.ctx_size, flags=flags
    )
    with running(cmd, port, ROOT / ".bench" / "prefix-cache.log") as url:
        yield url


def prompt_tokens(url: str, system: str) -> int:
    r = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": MODEL_ID, "max_tokens": 1, **body(system, QUESTIONS[0])},
        timeout=600,
    )
    r.raise_for_status()
    return int(r.json()["usage"]["prompt_tokens"])


def ttft(url: str, system: str, question: str, max_tokens: int) -> float:
    async def go() -> float:
        async with httpx.AsyncClient(timeout=600) as client:
            result = await loadgen.one_request(
                client, f"{url}/v1", MODEL_ID, question, max_tokens, body(system, question)
            )
        assert result.ok, f"request to {url} failed"
        return result.ttft

    return asyncio.run(go())


def prefix_counters(url: str) -> dict[str, int]:
    model = engine_health(url)
    keys = ("admitted", "prefix_hits", "cached_prompt_tokens", "prompt_tokens_decoded")
    return {k: int(str(model[k])) for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--ctx-size", type=int, default=2048, help="tokens per slot")
    ap.add_argument("--sections", type=int, default=5, help="rule sections (~200 tokens each)")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    shared = system_prompt("A-0", a.sections)
    ttfts: dict[str, list[float]] = {"hit": [], "miss": [], "off": []}
    with autan_server(a) as on, autan_server(a, "--no-prefix-cache") as off:
        n_tokens = prompt_tokens(on, shared)  # also leaves the shared prefix in a slot
        prompt_tokens(off, shared)
        for r in range(a.rounds):
            question = QUESTIONS[r % len(QUESTIONS)]
            # Alternate the order inside a round so that drift does not favour one kind.
            kinds = ["miss", "hit", "off"] if r % 2 == 0 else ["off", "hit", "miss"]
            for kind in kinds:
                if kind == "hit":
                    ttfts[kind].append(ttft(on, shared, question, a.max_tokens))
                elif kind == "miss":
                    fresh = system_prompt(f"B-{r}", a.sections)
                    ttfts[kind].append(ttft(on, fresh, question, a.max_tokens))
                else:
                    ttfts[kind].append(ttft(off, shared, question, a.max_tokens))
            print(
                f"round {r + 1}/{a.rounds}: "
                + "  ".join(f"{k} {1000 * v[-1]:.0f} ms" for k, v in ttfts.items()),
                flush=True,
            )
        counters_on, counters_off = prefix_counters(on), prefix_counters(off)
    med = {k: 1000 * statistics.median(v) for k, v in ttfts.items()}
    print()
    print(f"machine: {_machine()}")
    model = Path(os.environ.get("AUTAN_MODEL__PATH", "packaged SmolLM2-135M-Instruct")).name
    print(
        f"model: {model}, threads {a.threads}, slots {a.parallel} x {a.ctx_size}, "
        f"prompt {n_tokens} tokens (system + question), {a.max_tokens} output tokens, "
        f"median of {a.rounds} alternating rounds"
    )
    print()
    print("| request | TTFT p50 ms |")
    print("|---|---|")
    print(f"| hit (cache on, shared system prompt) | {med['hit']:.0f} |")
    print(f"| miss (cache on, new system prompt) | {med['miss']:.0f} |")
    print(f"| off (--no-prefix-cache, shared system prompt) | {med['off']:.0f} |")
    print()
    print(f"miss / hit: {med['miss'] / med['hit']:.2f}x (target >= 3x)")
    print(f"off / hit:  {med['off'] / med['hit']:.2f}x")
    print(f"/health, cache on:  {counters_on}")
    print(f"/health, cache off: {counters_off}")


if __name__ == "__main__":
    main()
