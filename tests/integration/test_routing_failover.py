"""A replica killed under load, and two gateways sharing one Redis: real processes."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.databases import REDIS_URL, redis_prefix
from tests.routing.scripted_upstream import Script, scripted_upstream
from tests.server import Server, _free_port, start_server, stop_server

pytestmark = pytest.mark.model

ASK = [{"role": "user", "content": "Count from one to twenty."}]


@dataclass
class Outcome:
    stream: bool
    status: int
    first_byte_at: float | None = None  # when the first chunk came (monotonic)
    finish: str | None = None
    error_event: bool = False
    done: bool = False


async def _one(client: httpx.AsyncClient, url: str, stream: bool) -> Outcome:
    body = {"model": "routed", "messages": ASK, "max_tokens": 6, "stream": stream}
    if not stream:
        r = await client.post(url, json=body)
        finish = r.json()["choices"][0]["finish_reason"] if r.status_code == 200 else None
        return Outcome(False, r.status_code, finish=finish, done=True)
    outcome = Outcome(True, 0)
    async with client.stream("POST", url, json=body) as r:
        outcome.status = r.status_code
        async for line in r.aiter_lines():
            if outcome.first_byte_at is None:
                outcome.first_byte_at = time.monotonic()
            if line.startswith("event: error"):
                outcome.error_event = True
            if line == "data: [DONE]":
                outcome.done = True
            elif line.startswith("data: ") and '"choices"' in line:
                finish = json.loads(line[6:])["choices"][0]["finish_reason"]
                outcome.finish = finish or outcome.finish
    return outcome


async def _load(url: str, total: int, concurrency: int, started: list[int]) -> list[Outcome]:
    queue = list(range(total))
    outcomes: list[Outcome] = []
    async with httpx.AsyncClient(timeout=300) as client:

        async def worker() -> None:
            while queue:
                i = queue.pop()
                outcomes.append(await _one(client, url, stream=i % 2 == 0))
                started[0] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def _models_file(path: Path, deployments: list[str], **extra: object) -> Path:
    lines = ['[[models]]\nid = "routed"\n']
    for url in deployments:
        lines.append(
            f'[[models.deployments]]\nbackend = "openai"\nurl = "{url}"\n'
            f'upstream_model = "smollm2-135m-instruct"\n'
            + "".join(f"{k} = {json.dumps(v)}\n" for k, v in extra.items())
        )
    path.write_text("".join(lines))
    return path


def _deployment(gateway: Server, url_part: str) -> dict[str, object]:
    health = httpx.get(f"{gateway.url}/health", timeout=10).json()
    return next(d for d in health["deployments"] if url_part in str(d["deployment"]))


@pytest.mark.timeout(900)
def test_a_replica_killed_under_load_fails_no_request_that_had_not_started(
    tmp_path: Path,
) -> None:
    procs = []
    try:
        one, server_one = start_server("--data-dir", str(tmp_path / "one"), "--parallel", "8")
        procs.append(one)
        port_two = _free_port()
        two, server_two = start_server(
            "--data-dir", str(tmp_path / "two"), "--parallel", "8", port=port_two
        )
        procs.append(two)
        # Timeouts that a busy two-core machine cannot hit: only the kill may fail requests.
        file = _models_file(
            tmp_path / "models.toml",
            [server_one.v1, server_two.v1],
            first_token_timeout=600,
            token_timeout=600,
        )
        gw, gateway = start_server(
            "--data-dir", str(tmp_path / "gw"), "--models-file", str(file),
            env={"AUTAN_ROUTING__PROBE_INTERVAL": "0.2"},
        )  # fmt: skip
        procs.append(gw)
        url = f"{gateway.v1}/chat/completions"
        done = [0]
        killed_at: list[float] = []

        def kill_when_under_way() -> None:
            while done[0] < 40:
                time.sleep(0.05)
            two.send_signal(signal.SIGKILL)
            killed_at.append(time.monotonic())

        killer = threading.Thread(target=kill_when_under_way)
        killer.start()
        outcomes = asyncio.run(_load(url, 200, 16, done))
        killer.join()
        two.wait()

        assert len(outcomes) == 200
        failed = [o for o in outcomes if o.status != 200 or o.finish in (None, "error")]
        for o in failed:
            # Only a stream already under way when its replica died may end with an error,
            # and it ends cleanly: a final chunk, an error event, [DONE].
            assert o.stream and o.status == 200, o
            assert o.first_byte_at is not None and o.first_byte_at < killed_at[0] + 0.5, o
            assert o.finish == "error" and o.error_event and o.done, o
        assert all(o.done for o in outcomes)
        down = _deployment(gateway, f":{port_two}/")
        assert down["state"] in ("cooling", "probing") and down["last_error"]

        two, _ = start_server("--data-dir", str(tmp_path / "two"), "--parallel", "8", port=port_two)
        procs.append(two)
        deadline = time.monotonic() + 60
        while _deployment(gateway, f":{port_two}/")["state"] != "healthy":
            assert time.monotonic() < deadline, "the replica was not taken back"
            time.sleep(0.2)
    finally:
        for proc in procs:
            stop_server(proc)


@pytest.fixture(name="redis_prefix")
def _redis_prefix() -> Iterator[str]:
    yield from redis_prefix()


def test_two_gateways_on_one_redis_share_cooldowns_and_concurrency(
    tmp_path: Path, redis_prefix: str
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    env = {
        "AUTAN_REDIS_URL": REDIS_URL,
        "AUTAN_ACCOUNTS__REDIS_PREFIX": redis_prefix,
        "AUTAN_ROUTING__PROBE_INTERVAL": "0.2",
    }
    procs = []
    servers: list[Server] = []
    dead_host = dead.split("//")[1].split("/")[0] + "/"
    with scripted_upstream() as live:
        live.script = Script(token_delay=0.3)
        try:
            file = _models_file(
                tmp_path / "models.toml", [f"{live.url}/v1", dead], max_concurrent=2
            )
            for name in ("a", "b"):
                proc, server = start_server(
                    "--data-dir", str(tmp_path / name), "--models-file", str(file), env=env
                )
                procs.append(proc)
                servers.append(server)
            a, b = servers

            body = {"model": "routed", "messages": ASK}

            def ask(server: Server) -> int:
                r = httpx.post(f"{server.v1}/chat/completions", json=body, timeout=120)
                return r.status_code

            while _deployment(a, dead_host)["state"] == "healthy":
                assert ask(a) == 200  # some reach the dead one, which gateway a cools down
            deadline = time.monotonic() + 10
            while _deployment(b, dead_host)["state"] == "healthy":
                assert time.monotonic() < deadline, "gateway b never saw the cooldown"
                time.sleep(0.1)
            sent_to_dead_by_b = _deployment(b, dead_host)
            assert sent_to_dead_by_b["last_error"]

            live.most_in_flight = 0
            results: list[int] = []
            threads = [
                threading.Thread(target=lambda s=server: results.append(ask(s)))
                for server in (a, a, b, b, a, b)
            ]
            for t in threads:
                t.start()
            time.sleep(0.5)
            seen = _deployment(b, live.url.split("//")[1] + "/")
            assert seen["outstanding"] == 2  # b counts a's requests too
            for t in threads:
                t.join()
            assert results == [200] * 6
            assert live.most_in_flight == 2  # max_concurrent held across both gateways
        finally:
            for proc in procs:
                stop_server(proc)


def test_a_client_that_leaves_frees_the_upstream_at_once(tmp_path: Path) -> None:
    with scripted_upstream() as up:
        up.script = Script(token_delay=0.5, content="word " * 60)
        file = _models_file(tmp_path / "models.toml", [f"{up.url}/v1"])
        proc, gateway = start_server("--data-dir", str(tmp_path / "gw"), "--models-file", str(file))
        try:
            body = {"model": "routed", "messages": ASK}
            with httpx.stream(
                "POST", f"{gateway.v1}/chat/completions", json={**body, "stream": True}, timeout=60
            ) as r:
                lines = r.iter_lines()
                while not next(lines).startswith("data: {"):
                    pass
                assert up.in_flight == 1
            deadline = time.monotonic() + 3
            while up.in_flight:
                assert time.monotonic() < deadline, "the upstream stream was left running"
                time.sleep(0.05)

            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{gateway.v1}/chat/completions", json=body, timeout=1.5)
            deadline = time.monotonic() + 3
            while up.in_flight:
                assert time.monotonic() < deadline, "the upstream request was left running"
                time.sleep(0.05)
            assert len(up.requests) == 2
        finally:
            stop_server(proc)


def test_autan_backends_shows_each_deployment(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from autan.cli.main import app

    dead = f"http://127.0.0.1:{_free_port()}/v1"
    with scripted_upstream() as up:
        file = _models_file(tmp_path / "models.toml", [f"{up.url}/v1", dead])
        proc, gateway = start_server("--data-dir", str(tmp_path / "gw"), "--models-file", str(file))
        try:
            body = {"model": "routed", "messages": ASK}
            for _ in range(20):  # until one reaches the dead deployment
                assert httpx.post(f"{gateway.v1}/chat/completions", json=body).status_code == 200
            out = CliRunner().invoke(app, ["backends", "--url", gateway.url]).output
        finally:
            stop_server(proc)
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "DEPLOYMENT", "STATE"]
    live = next(line for line in lines if up.url[7:] in line)
    down = next(line for line in lines if dead[7:] in line)
    assert "healthy" in live
    assert ("cooling" in down or "probing" in down) and "ago: cannot reach it" in down
    refused = CliRunner().invoke(app, ["backends", "--url", dead[:-3]])
    assert refused.exit_code == 1 and "cannot reach" in refused.output
