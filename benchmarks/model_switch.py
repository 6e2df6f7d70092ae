"""What switching models costs: two ids of the packaged GGUF under a budget that holds one,
requested in turn, so every request after the first unloads one model and loads the other.

Reports the estimated memory of one model against the process's resident memory growth once
it has answered a request, and the time to the first token when the model is already loaded
and when it must first be swapped in.

    .venv/bin/python -m benchmarks.model_switch [--parallel 8] [--context 4096] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from autan.inference.sampling import SamplingParams
from autan.models.card import ModelCard
from autan.models.loader import LocalLoader
from autan.models.registry import ModelRegistry
from autan.settings import EngineSettings, Settings


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _first_token_s(registry: ModelRegistry, name: str) -> float:
    start, elapsed = time.perf_counter(), float("nan")
    async with registry.acquire(name) as model:
        prompt = model.engine.tokenize("Hello", add_special=True, parse_special=False)
        outputs = model.engine.generate(prompt, [SamplingParams(max_tokens=4, temperature=0)])
        async for _ in outputs:
            elapsed = time.perf_counter() - start
            break
        async for _ in outputs:
            pass
    return elapsed


async def _run(args: argparse.Namespace) -> None:
    engine = EngineSettings(parallel=args.parallel, context_per_sequence=args.context, threads=2)
    settings = Settings(engine=engine)
    cards = [ModelCard(id=i, packaged="smollm2-135m-instruct") for i in ("a", "b")]
    loader = LocalLoader(settings)
    one = loader.plan(cards[0]).memory_bytes
    registry = ModelRegistry(cards, loader, max_loaded_memory=one * 3 // 2)
    before = _rss_bytes()
    await _first_token_s(registry, "a")
    grown = _rss_bytes() - before
    warm = [await _first_token_s(registry, "a") for _ in range(args.rounds)]
    swaps = []
    for i in range(args.rounds):
        swaps.append(await _first_token_s(registry, "b" if i % 2 == 0 else "a"))
    registry.close()
    print(f"parallel {args.parallel} x context {args.context}")
    print(f"estimated memory of one model: {one / 2**20:.0f} MiB")
    print(f"resident memory growth after its first answer: {grown / 2**20:.0f} MiB")
    print(f"first token, model loaded: {statistics.median(warm) * 1000:.0f} ms (median)")
    print(f"first token, model swapped in: {statistics.median(swaps) * 1000:.0f} ms (median)")
    loads = {m.id: (m.loads, m.unloads) for m in registry}
    print(f"loads/unloads: {loads}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
