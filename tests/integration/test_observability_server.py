"""A real ``autan serve`` on the packaged model, used through the official SDK: its metrics
(on their own port) moved by what was sent, and its traces received by a local OTLP/HTTP
receiver."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from mistralai import Mistral

from tests.observability.otlp_receiver import otlp_receiver
from tests.observability.scrape import Scrape
from tests.server import _free_port, start_server, stop_server

pytestmark = pytest.mark.model

SYSTEM = "You are a terse assistant. Answer in one short sentence, without any preamble. " * 8
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Name a colour."}]


def test_metrics_and_traces_of_a_real_server(tmp_path: Path) -> None:
    metrics_port = _free_port()
    with otlp_receiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
        proc, server = start_server(
            "--data-dir", str(tmp_path), "--ctx-size", "512", "--parallel", "2",
            "--no-embeddings", "--metrics-port", str(metrics_port),
            env=env,
        )  # fmt: skip
        try:
            client = Mistral(api_key="any-key", server_url=server.url)
            usages = []
            for _ in range(2):  # the same prompt twice: the second finds it in KV
                r = client.chat.complete(model=server.model, messages=MESSAGES, max_tokens=8)  # type: ignore[arg-type]
                assert r.usage is not None
                usages.append(r.usage)
            streamed = list(client.chat.stream(model=server.model, messages=MESSAGES, max_tokens=8))  # type: ignore[arg-type]
            last = streamed[-1].data.usage
            assert last is not None
            usages.append(last)
            assert httpx.get(f"{server.url}/metrics").status_code == 404
            scrape = Scrape(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text)
            deadline = time.monotonic() + 20
            while len(receiver.named(f"chat {server.model}")) < 3:
                assert time.monotonic() < deadline, [s.name for s in receiver.spans]
                time.sleep(0.1)
        finally:
            stop_server(proc)

    model = {"model_name": server.model}
    prompt = sum(u.prompt_tokens or 0 for u in usages)
    generated = sum(u.completion_tokens or 0 for u in usages)
    assert scrape.value("vllm:prompt_tokens_total", **model) == prompt
    assert scrape.value("vllm:generation_tokens_total", **model) == generated
    assert scrape.value("vllm:request_success_total", **model) == 3
    assert scrape.value("vllm:time_to_first_token_seconds_count", **model) == 3
    assert scrape.value("vllm:prefix_cache_hits_total", **model) > 0
    assert scrape.value("vllm:prefix_cache_queries_total", **model) == prompt
    route = {"route": "/v1/chat/completions", "status": "200"}
    assert scrape.value("autan_http_requests_total", **route) == 3
    # Process metrics come with the standard collectors.
    assert scrape.value("process_resident_memory_bytes") > 0

    spans = receiver.named(f"chat {server.model}")
    assert sorted(s.attributes["gen_ai.usage.output_tokens"] for s in spans) == sorted(
        u.completion_tokens for u in usages
    )
    assert all(s.service_name == "autan" for s in spans)
    (server_span, *_) = receiver.named("POST /v1/chat/completions")
    assert {s.name for s in receiver.children(spans[0])} >= {"autan.queue", "autan.decode"}
    assert server_span.attributes["http.response.status_code"] == 200
