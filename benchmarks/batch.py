"""Batch jobs against interactive traffic on one ``autan serve``, side by side in one run.

    .venv/bin/python -m benchmarks.batch            # 1,000 batch requests, 16 output tokens

1. Interactive throughput: streamed requests at concurrency 8 (the foundation benchmark's
   load generator, same prompts, same max_tokens); the best of ``--rounds`` rounds.
   Rounds run before and after the batch.
2. Batch throughput: a batch job of ``--batch`` chat requests with those prompts and
   max_tokens, alone on the server, from creation to its last line; output tokens from the
   output file's usage. Printed as a ratio to (1); the target is at least 0.90.
3. Interactive TTFT: streamed requests one at a time on the idle server, then the same while
   a batch job runs (cancelled after), in ``--rounds`` alternating rounds; the target is a
   median p50 at most 1.20 times the idle one.

``--batch-slots 16`` gives batch lines sixteen slots while interactive requests keep eight
(and the reserve); by default the server's own setting, eight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from benchmarks import loadgen
from benchmarks.compare import _free_port, _machine, _wait_ready, engine_health

ROOT = Path(__file__).resolve().parents[1]
MODEL_ID = "smollm2-135m-instruct"
T = TypeVar("T")


def _batch_lines(n: int, max_tokens: int) -> list[dict[str, object]]:
    return [
        {
            "custom_id": str(i),
            "body": {
                "max_tokens": max_tokens,
                "temperature": 0,
                "messages": [
                    {"role": "user", "content": loadgen.PROMPTS[i % len(loadgen.PROMPTS)]}
                ],
            },
        }
        for i in range(n)
    ]


def _create_batch(client: httpx.Client, n: int, max_tokens: int) -> str:
    r = client.post(
        "/v1/batch/jobs",
        json={
            "endpoint": "/v1/chat/completions",
            "model": MODEL_ID,
            "requests": _batch_lines(n, max_tokens),
        },
    )
    r.raise_for_status()
    return str(r.json()["id"])


def _wait_batch(client: httpx.Client, job_id: str) -> dict[str, object]:
    while True:
        job: dict[str, object] = client.get(f"/v1/batch/jobs/{job_id}").json()
        if job["status"] not in ("QUEUED", "RUNNING", "CANCELLATION_REQUESTED"):
            return job
        time.sleep(0.2)


def _output_tokens(client: httpx.Client, file_id: str) -> int:
    content = client.get(f"/v1/files/{file_id}/content").content
    return sum(
        json.loads(line)["response"]["body"]["usage"]["completion_tokens"]
        for line in content.splitlines()
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--batch", type=int, default=1000, help="requests in the batch job")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--requests", type=int, default=64, help="interactive requests per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ttft-requests", type=int, default=24)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument(
        "--batch-slots",
        type=int,
        default=None,
        help="serve --batch-slots: sequences batch lines decode together (default: the "
        "server's, --parallel)",
    )
    a = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="autan-bench-batch-"))
    port = _free_port()
    cmd = [
        str(ROOT / ".venv" / "bin" / "autan"), "serve", "--port", str(port),
        "--data-dir", str(data_dir), "--threads", str(a.threads),
        "--parallel", str(a.parallel), "--ctx-size", "1024", "--no-embeddings",
        "--log-level", "warning",
    ]  # fmt: skip
    if a.batch_slots is not None:
        cmd += ["--batch-slots", str(a.batch_slots)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if (data_dir / "admin_key").exists():
                break
            time.sleep(0.2)
        key = (data_dir / "admin_key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        _wait_ready(url, proc, path="/health")  # with keys on, /health needs none
        v1 = f"{url}/v1"
        asyncio.run(loadgen.warm_up(v1, MODEL_ID, headers))
        client = httpx.Client(base_url=url, headers=headers, timeout=600)
        served_batch_slots = _engine(url)["batch_slots"]

        steps: dict[str, list[tuple[float, float]]] = {"interactive": [], "batch": []}

        def interactive(concurrency: int, n: int) -> dict[str, float]:
            level = loadgen.run_level(v1, MODEL_ID, concurrency, n, a.max_tokens, headers=headers)
            return asyncio.run(level).row()

        def interactive_round() -> dict[str, float]:
            return measured("interactive", lambda: interactive(8, a.requests))

        def measured(kind: str, run: Callable[[], T]) -> T:
            before = _engine(url)
            result = run()
            steps[kind].append(_per_step(before, _engine(url)))
            return result

        # Interactive rounds before and after the batch: the machine's speed drifts.
        rounds = [interactive_round() for _ in range(a.rounds)]

        start = time.perf_counter()
        job = measured(
            "batch", lambda: _wait_batch(client, _create_batch(client, a.batch, a.max_tokens))
        )
        wall = time.perf_counter() - start
        assert job["status"] == "SUCCESS", job
        tokens = _output_tokens(client, str(job["output_file"]))
        batch_tok_s = tokens / wall
        rounds += [interactive_round() for _ in range(a.rounds)]
        best = max(rounds, key=lambda r: r["output_tok_s"])

        idle_rows, busy_rows = [], []
        for _ in range(a.rounds):
            idle_rows.append(interactive(1, a.ttft_requests))
            busy_job = _create_batch(client, a.batch, a.max_tokens)
            while client.get(f"/v1/batch/jobs/{busy_job}").json()["completed_requests"] < 1:
                time.sleep(0.1)
            busy_rows.append(interactive(1, a.ttft_requests))
            client.post(f"/v1/batch/jobs/{busy_job}/cancel")
            _wait_batch(client, busy_job)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    print(f"machine: {_machine()}")
    print(
        f"model {MODEL_ID}, --parallel {a.parallel}, --threads {a.threads}, "
        f"batch slots {served_batch_slots:.0f} (+1 interactive reserve), "
        f"{a.max_tokens} output tokens, greedy"
    )
    print(loadgen.format_rows("interactive, concurrency 8 (each round)", rounds))
    print(
        f"batch of {a.batch}: {wall:.1f} s, {tokens} output tokens, {batch_tok_s:.1f} tok/s; "
        f"best interactive {best['output_tok_s']:.1f} tok/s; "
        f"ratio {batch_tok_s / best['output_tok_s']:.2f} (target >= 0.90)"
    )
    for kind, figures in steps.items():
        print(
            f"engine steps, {kind}: "
            + ", ".join(f"{ms:.1f} ms for {seqs:.2f} sequences" for ms, seqs in figures)
        )
    print(loadgen.format_rows("interactive TTFT, concurrency 1, idle server (rounds)", idle_rows))
    print(loadgen.format_rows("interactive TTFT, concurrency 1, batch running (rounds)", busy_rows))
    idle = statistics.median(r["ttft_p50_ms"] for r in idle_rows)
    busy = statistics.median(r["ttft_p50_ms"] for r in busy_rows)
    print(
        f"TTFT p50 (median of rounds) idle {idle:.0f} ms, with a batch {busy:.0f} ms: "
        f"ratio {busy / idle:.2f} (target <= 1.20)"
    )


def _engine(url: str) -> dict[str, float]:
    """The packaged model's engine counters from ``/health``."""
    return {k: v for k, v in engine_health(url, MODEL_ID).items() if isinstance(v, int | float)}


def _per_step(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """Milliseconds inside ``llama_decode`` per step, and tokens generated per step, between
    two readings: how long a step of that many sequences took in the server."""
    n = max(1, int(after["steps"] - before["steps"]))
    decode_ms = (after["decode_seconds"] - before["decode_seconds"]) / n * 1000
    return decode_ms, (after["generated_tokens"] - before["generated_tokens"]) / n


if __name__ == "__main__":
    main()
