"""The Overview in a real browser (Chromium) against a real ``autan serve`` on the packaged
model: a request running now shown on its model, and requests, errors, latency and tokens
over time charted from ``GET /v1/observability/stats``."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from tests.console.conftest import Console, screenshot

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"


def _chat(console: Console, max_tokens: int, model: str = MODEL) -> httpx.Response:
    return httpx.post(
        f"{console.server.v1}/chat/completions",
        headers={"Authorization": f"Bearer {console.admin_key}"},
        json={
            "model": model,
            "max_tokens": max_tokens,
            "temperature": 1.0,
            "messages": [{"role": "user", "content": "Write a very long story about the sea."}],
        },
        timeout=600,
    )


def _running(console: Console) -> int:
    health = httpx.get(f"{console.server.url}/health").json()
    return sum(m.get("running", 0) for m in health["models"] if m["id"] == MODEL)


def test_the_overview_charts_requests_over_time_and_shows_what_runs_now(
    page: Any, console: Console
) -> None:
    assert _chat(console, 2).status_code == 200
    assert _chat(console, 2, model="no-such-model").status_code == 404
    long = threading.Thread(target=_chat, args=(console, 400))
    long.start()
    try:
        deadline = time.monotonic() + 120
        while _running(console) < 1:
            assert time.monotonic() < deadline, "the long request never ran"
            time.sleep(0.1)
        page.get_by_role("link", name="Usage").click()
        page.get_by_role("link", name="Overview").click()
        running = page.locator("#overview-running tr", has_text=MODEL)
        running.wait_for()
        cells = running.locator("td").all_text_contents()
        assert cells[1] == "loaded" and int(cells[2]) >= 1, cells
        assert (
            "No batch job is running or queued." in page.locator("#overview-running").text_content()
        )
        page.locator("#trend-requests canvas").first.wait_for()
        screenshot(page, "overview-running")
    finally:
        long.join()

    charted = page.evaluate(
        "() => { const d = document.querySelector('#trend-requests').plot.data;"
        " return { requests: d[1].reduce((a, b) => a + b, 0),"
        " errors: d[2].reduce((a, b) => a + b, 0), p50: d[3].filter((v) => v !== null) }; }"
    )
    assert charted["requests"] >= 2 and charted["errors"] >= 1
    assert charted["p50"] and all(v > 0 for v in charted["p50"])
    tokens = page.evaluate(
        "() => document.querySelector('#trend-tokens').plot.data[2].reduce((a, b) => a + b, 0)"
    )
    assert tokens >= 2
    assert "errors" in page.locator("#trend-totals").text_content()

    page.locator("#trend-range").select_option("day")
    page.wait_for_function(
        "() => document.querySelector('#trend-requests')?.plot.data[0].length === 30"
    )
    assert page.errors == [], page.errors
