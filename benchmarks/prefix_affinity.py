"""Time to first token behind an autan gateway: prefix affinity on and off.

    .venv/bin/python -m benchmarks.prefix_affinity --rounds 5

Two replicas (``autan serve`` on the packaged model, ``--parallel 2``: each keeps the KV of
about two long prompts) sit behind two autan gateways started from the same models file, one
routed model with both replicas as ``openai`` deployments: one gateway routes with prefix
affinity (the default), the other with ``AUTAN_ROUTING__AFFINITY=false``, which leaves the
router's other rule alone: the less loaded of two deployments drawn at random (P2C), which
with two replicas and even load spreads prompts as round robin would, blind to their prefixes.

Every request carries one of four ~1,000-token system prompts (drawn at random, the same draw
for both gateways in a round) and a short question, streamed, ``--max-tokens`` output tokens,
``--concurrency`` at a time. With affinity each replica sees two of the system prompts and keeps
them cached; without, both see all four and evict them from their two slots. Each round sends
``--requests`` to each gateway in turn (the order alternates). TTFT p50 is the median over the
rounds of each round's median; p90 and the mean are over every request. The replicas'
``/health`` counters give the share of prompt tokens each routing took from their caches.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from benchmarks import loadgen
from benchmarks.compare import MODEL_ID, ROOT, _free_port, _machine, engine_health, running
from benchmarks.prefix_cache import QUESTIONS, system_prompt

ROUTED = "routed"
GATEWAYS = {"affinity": {}, "no affinity": {"AUTAN_ROUTING__AFFINITY": "false"}}

MODELS = """\
[[models]]
id = "{model}"
"""
DEPLOYMENT = """\
[[models.deployments]]
backend = "openai"
url = "{url}/v1"
upstream_model = "{upstream}"
"""


@contextmanager
def autan(
    workdir: Path, name: str, args: list[str], env: dict[str, str] | None = None
) -> Iterator[str]:
    port = _free_port()
    cmd = [
        sys.executable, "-m", "autan.cli.main", "serve", "--no-auth", "--port", str(port),
        "--data-dir", str(workdir / name), "--no-embeddings", "--log-level", "warning", *args,
    ]  # fmt: skip
    with running(cmd, port, workdir / f"{name}.log", env, cwd=ROOT) as url:
        yield url


def prompt_tokens_cached(replicas: list[str]) -> tuple[int, int]:
    """Prompt tokens the replicas took from their prefix caches, and those they decoded."""
    cached = decoded = 0
    for url in replicas:
        model = engine_health(url)
        cached += int(str(model["cached_prompt_tokens"]))
        decoded += int(str(model["prompt_tokens_decoded"]))
    return cached, decoded


def _share(cached: int, decoded: int) -> float:
    return cached / (cached + decoded) if cached + decoded else 0.0


def messages(system: str, question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


async def _ttfts(
    url: str, prompts: list[tuple[str, str]], concurrency: int, max_tokens: int
) -> list[float]:
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for p in prompts:
        queue.put_nowait(p)
    out: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            system, question = queue.get_nowait()
            extra: dict[str, object] = {
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": question},
                ]
            }
            r = await loadgen.one_request(client, f"{url}/v1", ROUTED, question, max_tokens, extra)
            if not r.ok:
                raise RuntimeError(f"a request to {url} failed")
            out.append(r.ttft * 1000)

    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--replica-threads", type=int, default=1)
    ap.add_argument("--parallel", type=int, default=2, help="slots per replica")
    ap.add_argument("--ctx-size", type=int, default=2048, help="tokens per slot")
    ap.add_argument("--sections", type=int, default=5, help="rule sections (~200 tokens each)")
    ap.add_argument("--requests", type=int, default=16, help="per gateway per round")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    systems = [system_prompt(f"P-{k}", a.sections) for k in range(4)]
    replica_args = [
        "--threads", str(a.replica_threads), "--parallel", str(a.parallel),
        "--ctx-size", str(a.ctx_size),
    ]  # fmt: skip
    results: dict[str, list[float]] = {name: [] for name in GATEWAYS}
    counts: dict[str, list[int]] = {name: [0, 0] for name in GATEWAYS}
    pooled: dict[str, list[float]] = {name: [] for name in GATEWAYS}
    with tempfile.TemporaryDirectory(prefix="autan-affinity-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        replicas = [
            stack.enter_context(autan(workdir, f"replica{i}", replica_args)) for i in range(2)
        ]
        models = workdir / "models.toml"
        models.write_text(
            MODELS.format(model=ROUTED)
            + "".join(DEPLOYMENT.format(url=u, upstream=MODEL_ID) for u in replicas)
        )
        gateways = {
            name: stack.enter_context(
                autan(workdir, f"gateway-{i}", ["--models-file", str(models)], env)
            )
            for i, (name, env) in enumerate(GATEWAYS.items())
        }
        first = {"model": MODEL_ID, "max_tokens": 1, "messages": messages(systems[0], QUESTIONS[0])}
        r = httpx.post(f"{replicas[0]}/v1/chat/completions", json=first, timeout=600)
        r.raise_for_status()
        n_tokens = r.json()["usage"]["prompt_tokens"]
        for rnd in range(a.rounds):
            rng = random.Random(rnd)
            prompts = [(rng.choice(systems), rng.choice(QUESTIONS)) for _ in range(a.requests)]
            order = list(gateways) if rnd % 2 == 0 else list(reversed(gateways))
            line = []
            for name in order:
                before = prompt_tokens_cached(replicas)
                ttfts = asyncio.run(_ttfts(gateways[name], prompts, a.concurrency, a.max_tokens))
                after = prompt_tokens_cached(replicas)
                results[name].append(statistics.median(ttfts))
                pooled[name] += ttfts
                counts[name][0] += after[0] - before[0]
                counts[name][1] += after[1] - before[1]
                share = _share(after[0] - before[0], after[1] - before[1])
                line.append(f"{name} {results[name][-1]:.0f} ms ({share:.0%} cached)")
            print(f"round {rnd + 1}/{a.rounds}: TTFT p50 " + ", ".join(line), flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print()
    print(f"machine: {_machine()}")
    print(
        f"model: packaged {MODEL_ID}, 2 replicas x {a.replica_threads} threads, "
        f"{a.parallel} slots x {a.ctx_size}, prompt {n_tokens} tokens (system + question), "
        f"{a.max_tokens} output tokens, {a.requests} requests per gateway per round at "
        f"concurrency {a.concurrency}, median of {a.rounds} rounds"
    )
    print()
    print("| routing | TTFT p50 ms | TTFT p90 ms | TTFT mean ms | prompt tokens from the caches |")
    print("|---|---|---|---|---|")
    for name, v in med.items():
        every = sorted(pooled[name])
        p90 = every[min(len(every) - 1, round(0.9 * (len(every) - 1)))]
        print(
            f"| {name} | {v:.0f} | {p90:.0f} | {statistics.fmean(every):.0f} | "
            f"{_share(*counts[name]):.0%} |"
        )
    print()
    print(f"no affinity / affinity: {med['no affinity'] / med['affinity']:.2f}x")


if __name__ == "__main__":
    main()
