"""What a gateway adds to a request: autan's routing against LiteLLM's proxy, side by side.

    python3 -m venv /work/bench-litellm && /work/bench-litellm/bin/pip install 'litellm[proxy]'
    .venv/bin/python -m benchmarks.gateway_overhead --litellm /work/bench-litellm/bin/litellm

One stand-in upstream (``tests/standin/platform.py``: it answers at once with ``--tokens`` fixed
tokens, whole or streamed) serves three targets on this machine: the upstream called directly,
``autan serve --no-auth --models-file F`` with one model routed to it (backend ``openai``), and
``litellm --config cfg.yaml`` with one ``openai/`` model whose ``api_base`` is the stand-in.

LiteLLM runs as a fair comparison would run it: one uvicorn worker (autan serves from one
process), no master key (``dangerously_permit_weak_or_unset_master_key``, as autan runs with
``--no-auth``) and no database (so no spend logs, no error logs, no key lookups), no
callbacks, telemetry off, the model cost map read from the package rather than
fetched, its logs at ERROR (autan's at warning), no request logging. autan runs with
``--no-embeddings`` (the routed model needs no local engine) on a fresh data directory.

Each round, in the same rotated order of targets: open loop at each ``--rates`` (requests sent at
a fixed rate whatever the server does), non-streamed and streamed chat requests in turn, for
``--duration`` seconds each; then a closed-loop sweep over ``--concurrency`` (non-streamed). The
added latency of a gateway is its latency minus the direct latency in the same round, at the same
rate (or the same concurrency); the figures are medians of those differences over the rounds.
"At its maximum" is the sweep's level where that gateway completed the most requests per second.

With ``--gateway-cpus`` (default ``0``) the gateways are pinned to those CPUs and the stand-in and
this client to ``--client-cpus`` (default ``1``), so that a gateway's figure is what it does with
that CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.rawload import Endpoint, Sample, closed_loop, median, open_loop, run
from tests.standin.process import free_port, start_platform, stop_platform

ROOT = Path(__file__).resolve().parents[1]
MODEL = "routed"
UPSTREAM_MODEL = "fake"
MESSAGES = [{"role": "user", "content": "Say hello in a few words."}]

LITELLM_CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{upstream_model}
      api_base: {api_base}
      api_key: sk-standin
litellm_settings:
  telemetry: false
  drop_params: true
  turn_off_message_logging: true
  set_verbose: false
  json_logs: false
  request_timeout: 600
  success_callback: []
  failure_callback: []
  callbacks: []
general_settings:
  disable_spend_logs: true
  disable_error_logs: true
  disable_adding_master_key_hash_to_db: true
  allow_requests_on_db_unavailable: true
  dangerously_permit_weak_or_unset_master_key: true
"""

AUTAN_MODELS = """\
[[models]]
id = "{model}"
[[models.deployments]]
backend = "openai"
url = "{api_base}"
upstream_model = "{upstream_model}"
"""


@dataclass
class Target:
    name: str
    url: str  # the chat completions URL
    model: str
    proc: subprocess.Popen[bytes] | None = None
    # (rate, mode) -> one Sample per round; ("c", concurrency) -> one Sample per round
    samples: dict[tuple[object, ...], list[Sample]] = field(default_factory=dict)

    def endpoint(self, stream: bool) -> Endpoint:
        body = {"model": self.model, "messages": MESSAGES, "max_tokens": 64, "stream": stream}
        return Endpoint.post_json(self.url, body, {"Authorization": "Bearer sk-bench"})


def _pin(cpus: str) -> Callable[[], None] | None:
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None
    chosen = {int(c) for c in cpus.split(",")}
    return lambda: os.sched_setaffinity(0, chosen)


def _wait_healthy(
    url: str, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{what} exited with {proc.returncode}; its log ends:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{what} did not answer {url} in {timeout:.0f} s")


def _started(proc: subprocess.Popen[bytes], url: str, what: str, log: Path) -> None:
    """Healthy, or stopped before the error goes up: no server outlives a failed start."""
    try:
        _wait_healthy(url, proc, what, log)
    except BaseException:
        stop(proc)
        raise


def start_litellm(binary: str, api_base: str, workdir: Path, pin: str) -> Target:
    port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(
        LITELLM_CONFIG.format(model=MODEL, upstream_model=UPSTREAM_MODEL, api_base=api_base)
    )
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "LITELLM_MODE": "PRODUCTION",
        "DISABLE_SCHEMA_UPDATE": "True",
    }
    env.pop("DATABASE_URL", None)
    log = (workdir / "litellm.log").open("wb")
    cmd = [binary, "--config", str(config), "--port", str(port), "--num_workers", "1"]
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_pin(pin)
    )
    _started(proc, f"http://127.0.0.1:{port}/health/liveliness", "litellm", workdir / "litellm.log")
    return Target("litellm", f"http://127.0.0.1:{port}/v1/chat/completions", MODEL, proc)


def start_autan(api_base: str, workdir: Path, pin: str) -> Target:
    port = free_port()
    models = workdir / "models.toml"
    models.write_text(
        AUTAN_MODELS.format(model=MODEL, upstream_model=UPSTREAM_MODEL, api_base=api_base)
    )
    data_dir = workdir / "autan-data"
    log = (workdir / "autan.log").open("wb")
    cmd = [
        sys.executable,
        "-m",
        "autan.cli.main",
        "serve",
        "--no-auth",
        "--models-file",
        str(models),
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--no-embeddings",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_pin(pin)
    )
    _started(proc, f"http://127.0.0.1:{port}/health", "autan serve", workdir / "autan.log")
    return Target("autan", f"http://127.0.0.1:{port}/v1/chat/completions", MODEL, proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _check(target: Target) -> None:
    """One request of each kind must succeed before anything is timed."""
    for stream in (False, True):
        sample = run(open_loop(target.endpoint(stream), 5, 0.4, warm=1))
        assert isinstance(sample, Sample)
        if sample.errors or not sample.latencies_ms:
            raise RuntimeError(f"{target.name} fails {'streamed' if stream else 'whole'} requests")


def measure(targets: list[Target], args: argparse.Namespace) -> None:
    rates = [float(r) for r in args.rates.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]
    for r in range(args.rounds):
        order = targets[r % len(targets) :] + targets[: r % len(targets)]
        for rate in rates:
            for mode in ("whole", "stream"):
                for t in order:
                    s = run(open_loop(t.endpoint(mode == "stream"), rate, args.duration))
                    assert isinstance(s, Sample)
                    t.samples.setdefault((rate, mode), []).append(s)
                    print(
                        f"round {r + 1} {t.name:8} {mode:6} {rate:5.0f}/s: p50 {s.p(50):7.2f} "
                        f"p99 {s.p(99):7.2f} ms, {s.completed_per_s:6.0f}/s done, "
                        f"{s.errors} errors, {s.dropped} dropped",
                        flush=True,
                    )
        for c in levels:
            for t in order:
                s = run(closed_loop(t.endpoint(False), c, args.duration))
                assert isinstance(s, Sample)
                t.samples.setdefault(("c", c), []).append(s)
                print(
                    f"round {r + 1} {t.name:8} closed c={c:<3}: {s.completed_per_s:6.0f}/s, "
                    f"p50 {s.p(50):7.2f} p99 {s.p(99):7.2f} ms, {s.errors} errors",
                    flush=True,
                )


def _added(gw: Target, direct: Target, key: tuple[object, ...], q: float) -> float:
    return median(
        [g.p(q) - d.p(q) for g, d in zip(gw.samples[key], direct.samples[key], strict=True)]
    )


def report(targets: list[Target], args: argparse.Namespace) -> dict[str, object]:
    by_name = {t.name: t for t in targets}
    direct = by_name["direct"]
    rates = [float(r) for r in args.rates.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]
    result: dict[str, object] = {"open_loop": [], "max": {}}
    print("\nAdded latency over calling the upstream directly (ms, median over rounds)")
    print(
        "| target | rate /s | request | p50 added | p99 added | p50 | p99 | done /s "
        "| failed or dropped |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for rate in rates:
        for mode in ("whole", "stream"):
            for t in targets:
                key = (rate, mode)
                ss = t.samples[key]
                row = {
                    "target": t.name,
                    "rate": rate,
                    "mode": mode,
                    "p50_ms": median([s.p(50) for s in ss]),
                    "p99_ms": median([s.p(99) for s in ss]),
                    "done_per_s": median([s.completed_per_s for s in ss]),
                    "errors": sum(s.errors + s.dropped for s in ss),
                }
                if t is not direct:
                    row["p50_added_ms"] = _added(t, direct, key, 50)
                    row["p99_added_ms"] = _added(t, direct, key, 99)
                result["open_loop"].append(row)  # type: ignore[attr-defined]
                print(
                    f"| {t.name} | {rate:.0f} | {mode} | {row.get('p50_added_ms', 0):.2f} | "
                    f"{row.get('p99_added_ms', 0):.2f} | {row['p50_ms']:.2f} | "
                    f"{row['p99_ms']:.2f} | "
                    f"{row['done_per_s']:.0f} | {row['errors']} |"
                )
    print(
        "\nClosed loop (non-streamed): requests/s and latency by concurrency (medians over rounds)"
    )
    print("| target | concurrency | req/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for t in targets:
        best_c, best = levels[0], -1.0
        for c in levels:
            ss = t.samples[("c", c)]
            rps = median([s.completed_per_s for s in ss])
            print(
                f"| {t.name} | {c} | {rps:.0f} | {median([s.p(50) for s in ss]):.2f} | "
                f"{median([s.p(99) for s in ss]):.2f} | {sum(s.errors for s in ss)} |"
            )
            if rps > best:
                best_c, best = c, rps
        entry: dict[str, float] = {"max_req_s": best, "at_concurrency": best_c}
        if t is not direct:
            entry["p50_added_ms_at_max"] = _added(t, direct, ("c", best_c), 50)
            entry["p99_added_ms_at_max"] = _added(t, direct, ("c", best_c), 99)
        result["max"][t.name] = entry  # type: ignore[index]
    print("\nAt each one's maximum")
    for name, e in result["max"].items():  # type: ignore[attr-defined]
        added = (
            f", added p50 {e['p50_added_ms_at_max']:.2f} ms p99 {e['p99_added_ms_at_max']:.2f} ms"
            if "p50_added_ms_at_max" in e
            else ""
        )
        print(f"- {name}: {e['max_req_s']:.0f} req/s at concurrency {e['at_concurrency']}{added}")
    if "autan" in by_name and "litellm" in by_name:
        print("\nAgainst the targets (issue 15)")
        ratios = {}
        for rate in rates:
            for mode in ("whole", "stream"):
                rows = {
                    r["target"]: r
                    for r in result["open_loop"]
                    if r["rate"] == rate and r["mode"] == mode
                }  # type: ignore[attr-defined]
                ours, theirs = rows["autan"]["p50_added_ms"], rows["litellm"]["p50_added_ms"]
                ratio = ours / theirs
                ratios[f"p50_added_{rate:.0f}_{mode}"] = ratio
                print(
                    f"- p50 added at {rate:.0f}/s {mode}, autan / litellm: {ratio:.3f}x "
                    f"({ours:.2f} against {theirs:.2f} ms; target <= 0.5x)"
                )
        m = result["max"]  # type: ignore[assignment]
        ratio = m["autan"]["max_req_s"] / m["litellm"]["max_req_s"]  # type: ignore[index]
        ratios["max_req_s"] = ratio
        print(
            f"- max req/s, autan / litellm: {ratio:.2f}x ({m['autan']['max_req_s']:.0f} against "  # type: ignore[index]
            f"{m['litellm']['max_req_s']:.0f}; target >= 1.0x)"  # type: ignore[index]
        )
        result["ratios"] = ratios
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--litellm", help="the litellm executable (in its own venv); omit to skip it"
    )
    parser.add_argument("--targets", default="direct,autan,litellm")
    parser.add_argument("--rates", default="25,100,500", help="open-loop requests per second")
    parser.add_argument("--concurrency", default="4,16,64", help="closed-loop levels")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=16, help="tokens in each upstream reply")
    parser.add_argument("--gateway-cpus", default="0")
    parser.add_argument("--client-cpus", default="1")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    names = args.targets.split(",")
    if "litellm" in names and not args.litellm:
        names.remove("litellm")
        print("no --litellm given: LiteLLM is skipped")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {cpu_model()}")
    pin = _pin(args.client_cpus)
    if pin:
        pin()
    with tempfile.TemporaryDirectory(prefix="autan-gw-bench-") as tmp:
        workdir = Path(tmp)
        proc, standin = start_platform("--tokens", str(args.tokens))
        targets: list[Target] = []
        try:
            if "direct" in names:
                targets.append(Target("direct", f"{standin.v1}/chat/completions", UPSTREAM_MODEL))
            if "autan" in names:
                targets.append(start_autan(standin.v1, workdir, args.gateway_cpus))
            if "litellm" in names:
                targets.append(start_litellm(args.litellm, standin.v1, workdir, args.gateway_cpus))
            for t in targets:
                _check(t)
            measure(targets, args)
            result = report(targets, args)
            if args.json:
                args.json.write_text(json.dumps(result, indent=2))
        finally:
            for t in targets:
                if t.proc is not None:
                    stop(t.proc)
            stop_platform(proc)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
