"""``GET /metrics`` scraped after real requests through the app: the values moved by exactly
what was sent."""

import json
import socket
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from autan.settings import JobsSettings, MetricsSettings
from tests.api.conftest import Platform, local_app, platform_app
from tests.api.test_auth import CHAT, bearer
from tests.api.test_batch import run_inline, sdk
from tests.fakes import fake_engine, fake_registry
from tests.observability.scrape import scrape

MODEL = {"model_name": "fake-model"}
ROUTE = "/v1/chat/completions"


def _stream(client: TestClient, body: dict[str, object]) -> dict[str, object]:
    """The usage of a streamed reply (on its last chunk)."""
    with client.stream("POST", ROUTE, json={**body, "stream": True}) as r:
        assert r.status_code == 200
        events = [e for e in r.read().decode().split("\n\n") if e and e != "data: [DONE]"]
    usage: dict[str, object] = json.loads(events[-1].removeprefix("data: "))["usage"]
    return usage


def test_engine_and_http_metrics_count_what_was_sent(client: TestClient) -> None:
    before = scrape(client)
    assert before.value("vllm:prompt_tokens_total", **MODEL) == 0
    one = client.post(ROUTE, json={**CHAT, "max_tokens": 5}).json()["usage"]
    two = _stream(client, CHAT)
    three = client.post(ROUTE, json={**CHAT, "n": 2}).json()["usage"]
    after = scrape(client)

    prompt = one["prompt_tokens"] + two["prompt_tokens"] + 2 * three["prompt_tokens"]
    generated = one["completion_tokens"] + two["completion_tokens"] + three["completion_tokens"]
    assert after.value("vllm:prompt_tokens_total", **MODEL) == prompt
    assert after.value("vllm:generation_tokens_total", **MODEL) == generated
    # Four sequences: one cut by max_tokens, three ended by the model.
    assert after.value("vllm:request_success_total", **MODEL, finished_reason="length") == 1
    assert after.value("vllm:request_success_total", **MODEL, finished_reason="stop") == 3
    for name in (
        "vllm:time_to_first_token_seconds",
        "vllm:e2e_request_latency_seconds",
        "vllm:request_queue_time_seconds",
        "vllm:request_prefill_time_seconds",
        "vllm:request_decode_time_seconds",
    ):
        assert after.value(f"{name}_count", **MODEL) == 4, name
    # Every output token after a sequence's first is one inter-token gap; a sequence ended
    # by the model samples its end token as one more.
    gaps = after.value("vllm:inter_token_latency_seconds_count", **MODEL)
    assert gaps == generated - 4 + 3
    # The same prompt four times: from the second on, all but its last token comes from KV.
    queries = after.value("vllm:prefix_cache_queries_total", **MODEL)
    hits = after.value("vllm:prefix_cache_hits_total", **MODEL)
    assert queries == prompt and 0 < hits < queries
    assert after.value("vllm:num_requests_running", **MODEL) == 0
    assert after.value("vllm:num_requests_waiting", **MODEL) == 0
    assert after.value("vllm:kv_cache_usage_perc", **MODEL) == 0
    ok = {"route": ROUTE, "method": "POST", "status": "200"}
    assert after.value("autan_http_requests_total", **ok) == 3
    assert after.value("autan_gateway_added_latency_seconds_count", route=ROUTE) == 3
    # The gateway's share is only part of the request's time, never more than all of it.
    assert after.value("autan_gateway_added_latency_seconds_sum", route=ROUTE) < 5
    assert after.value("autan_model_loaded", **MODEL) == 1
    assert after.value("autan_model_loads_total", **MODEL) == 1
    assert after.value("autan_loaded_memory_bytes") > 0


def test_unknown_paths_share_one_label(client: TestClient) -> None:
    for path in ("/nope/1", "/nope/2"):
        assert client.get(path).status_code == 404
    after = scrape(client)
    assert after.value("autan_http_requests_total", route="unmatched", status="404") == 2
    labels = {labels.get("route") for labels, _ in after.samples["autan_http_requests_total"]}
    assert not any(str(route).startswith("/nope") for route in labels)


def test_responses_say_how_long_autan_and_the_engine_took(client: TestClient) -> None:
    r = client.post(ROUTE, json=CHAT)
    parts = dict(p.strip().split(";dur=") for p in r.headers["server-timing"].split(","))
    assert set(parts) == {"autan", "engine"}
    assert float(parts["engine"]) > 0 and float(parts["autan"]) >= 0


def test_rate_limited_requests_count_by_reason_and_usage_by_workspace(
    platform: Platform,
) -> None:
    key, secret = platform.key(rpm=1)
    ok = platform.client.post(ROUTE, json=CHAT, headers=bearer(secret))
    assert ok.status_code == 200
    assert platform.client.post(ROUTE, json=CHAT, headers=bearer(secret)).status_code == 429
    admin = bearer(platform.admin_key)
    after = scrape(platform.client, admin)
    workspace = key.workspace_id
    assert (
        after.value(
            "autan_rate_limited_requests_total", reason="requests_rate_limited", workspace=workspace
        )
        == 1
    )
    assert after.value("autan_http_requests_total", route=ROUTE, status="429") == 1
    usage = ok.json()["usage"]
    tokens = {"model_name": "fake-model", "workspace": workspace}
    assert (
        after.value("autan_usage_tokens_total", **tokens, type="prompt") == usage["prompt_tokens"]
    )
    assert (
        after.value("autan_usage_tokens_total", **tokens, type="completion")
        == usage["completion_tokens"]
    )
    # No key or request in any label.
    assert key.id not in json.dumps(after.samples)


def test_overloaded_requests_count_by_reason(tmp_path: Path) -> None:
    engine, _ = fake_engine(b"x" * 200, parallel=1, max_waiting=0)
    with TestClient(local_app(lambda: fake_registry(engine), tmp_path)) as client:
        assert client.post(ROUTE, json=CHAT).status_code == 503
        after = scrape(client)
    assert after.value("autan_overloaded_requests_total", reason="overloaded") == 1
    assert after.value("autan_http_requests_total", route=ROUTE, status="503") == 1
    assert after.value("vllm:request_success_total", **MODEL) == 0


def test_batch_jobs_and_lines_are_counted_by_state(tmp_path: Path) -> None:
    jobs = JobsSettings(poll_seconds=0.02, batch_concurrency=4)
    for platform in platform_app(tmp_path, jobs=jobs):
        admin = bearer(platform.admin_key)
        assert scrape(platform.client, admin).value("autan_batch_jobs") == 0
        job = run_inline(sdk(platform), 3)
        assert job.status == "SUCCESS"
        after = scrape(platform.client, admin)
    assert after.value("autan_batch_jobs", status="SUCCESS") == 1
    assert after.value("autan_batch_lines", state="succeeded") == 3
    assert after.value("autan_batch_lines", state="pending") == 0
    assert after.value("autan_fine_tuning_jobs") == 0
    # Batch lines run on the engine like any request.
    assert after.value("vllm:request_success_total", **MODEL, finished_reason="length") == 3


def test_metrics_can_need_an_admin_key(tmp_path: Path) -> None:
    for platform in platform_app(tmp_path, metrics=MetricsSettings(auth="admin")):
        _, secret = platform.key()
        assert platform.client.get("/metrics").status_code == 401
        assert platform.client.get("/metrics", headers=bearer(secret)).status_code == 403
        scrape(platform.client, bearer(platform.admin_key))


def test_metrics_turned_off_are_a_404(tmp_path: Path) -> None:
    engine, _ = fake_engine()
    app = local_app(lambda: fake_registry(engine), tmp_path, metrics=MetricsSettings(enabled=False))
    with TestClient(app) as client:
        assert client.post(ROUTE, json=CHAT).status_code == 200
        r = client.get("/metrics")
    assert r.status_code == 404 and r.json()["object"] == "error"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_on_their_own_port(tmp_path: Path) -> None:
    port = _free_port()
    engine, _ = fake_engine()
    app = local_app(lambda: fake_registry(engine), tmp_path, metrics=MetricsSettings(port=port))
    with TestClient(app) as client:
        assert client.post(ROUTE, json=CHAT).status_code == 200
        assert client.get("/metrics").status_code == 404
        r = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert r.status_code == 200
        assert 'vllm:request_success_total{finished_reason="stop",model_name="fake-model"}' in (
            r.text
        )
    with pytest.raises(httpx.ConnectError):  # closed with the app
        httpx.get(f"http://127.0.0.1:{port}/metrics")
