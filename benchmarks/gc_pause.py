"""A full garbage collection inside a running ``autan serve``, with its start-up heap frozen (as
it serves) and unfrozen (as it would without ``cli/heap.py``), side by side in one process.

Starts ``autan serve`` on the packaged model, once per round, with a ``sitecustomize`` that,
on SIGUSR1, times ``--collections`` full collections, unfreezes the heap, times as many again
and writes the figures to a file. Before the signal the server answers ``--requests``
streamed chat requests, so its heap holds what serving keeps as well as what start-up made.
A full collection holds the GIL: for its length no token is sampled and no chunk is sent.

    .venv/bin/python -m benchmarks.gc_pause --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import loadgen
from benchmarks.compare import (
    ROOT,
    _free_port,
    _machine,
    _served_id,
    autan_cmd,
    model_paths,
    running,
)

PROBE = """
import gc, json, os, signal, time

def _collections(n):
    out = []
    for _ in range(n):
        start = time.perf_counter()
        gc.collect()
        out.append((time.perf_counter() - start) * 1e3)
    return out

def _measure(*_):
    n = int(os.environ["GC_PAUSE_COLLECTIONS"])
    tracked = len(gc.get_objects())
    frozen_ms = _collections(n)
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    unfrozen_ms = _collections(n)
    walked = len(gc.get_objects())
    with open(os.environ["GC_PAUSE_OUT"], "a") as f:
        f.write(json.dumps({"frozen_ms": frozen_ms, "unfrozen_ms": unfrozen_ms,
                            "tracked": tracked, "frozen": frozen, "walked": walked}) + "\\n")

signal.signal(signal.SIGUSR1, _measure)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="servers started, one measurement each")
    ap.add_argument("--requests", type=int, default=20, help="streamed requests first")
    ap.add_argument("--collections", type=int, default=5, help="full collections per state")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    (model_path,) = model_paths("packaged")
    args = argparse.Namespace(
        model_path=model_path, threads=a.threads, parallel=4, ctx_size=4096, gpu_layers=0
    )
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "sitecustomize.py").write_text(PROBE)
        out = Path(tmp, "gc.jsonl")
        for round_ in range(a.rounds):  # a server per round: the probe unfreezes its heap
            port = _free_port()
            cmd, env = autan_cmd(args, port)
            env = {
                **env,
                "PYTHONPATH": os.pathsep.join([tmp, os.environ.get("PYTHONPATH", "")]),
                "GC_PAUSE_OUT": str(out),
                "GC_PAUSE_COLLECTIONS": str(a.collections),
            }
            with running(cmd, port, ROOT / ".bench" / "gc_pause.log", env) as url:
                asyncio.run(_traffic(f"{url}/v1", _served_id(url), a.requests))
                os.kill(_server_pid(port), signal.SIGUSR1)
                _wait_lines(out, round_ + 1)
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    print(f"machine: {_machine()}")
    print(f"autan serve on {Path(model_path).name}, {a.requests} streamed requests per round\n")
    print(
        "| round | objects walked (frozen / not) | full collection, frozen | not frozen | ratio |"
    )
    print("|---|---|---|---|---|")
    for i, r in enumerate(rows, start=1):
        frozen, unfrozen = statistics.median(r["frozen_ms"]), statistics.median(r["unfrozen_ms"])
        print(
            f"| {i} | {r['tracked']:,} / {r['walked']:,} | {frozen:.1f} ms | {unfrozen:.1f} ms "
            f"| {unfrozen / max(frozen, 1e-3):.0f}x |"
        )


async def _traffic(url: str, model: str, n: int) -> None:
    async with httpx.AsyncClient(timeout=600) as client:
        for _ in range(n):
            await loadgen.one_request(client, url, model, "Tell me about the sea.", 32)


def _server_pid(port: int) -> int:
    """The pid of the process listening on ``port`` (``autan serve`` itself, not a wrapper)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # LISTEN
            inode = fields[9]
    if inode is None:
        raise SystemExit(f"nothing listens on port {port}")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return int(proc.name)
            except OSError:
                continue
    raise SystemExit(f"no process holds the socket of port {port}")


def _wait_lines(path: Path, n: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.2)
    raise SystemExit("the server did not answer the measurement signal")


if __name__ == "__main__":
    main()
