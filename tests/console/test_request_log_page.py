"""The Request log in a real browser (Chromium) against a real ``autan serve`` on the packaged
model: requests filtered by key, model, status, latency and time range, and one request's
timing, tokens, messages and reply, its markup shown as text."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.console.conftest import Console, screenshot

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"
PROMPT = "Say hi. <script>alert(1)</script><b>bold</b>"


def _admin(console: Console) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.admin_key}"}


def _chat(console: Console, secret: str, content: str, model: str = MODEL) -> httpx.Response:
    return httpx.post(
        f"{console.server.v1}/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={
            "model": model,
            "max_tokens": 4,
            "temperature": 0,
            "messages": [{"role": "user", "content": content}],
        },
        timeout=300,
    )


def _rows(page: Any) -> list[list[str]]:
    return [
        row.locator("td").all_text_contents() for row in page.locator("#log-list tbody tr").all()
    ]


def _search(page: Any) -> None:
    page.locator("#log-list").evaluate("(box) => box.replaceChildren()")
    page.get_by_role("button", name="Search").click()
    page.locator("#log-list table, #log-list p").first.wait_for()


def test_the_request_log_filters_and_shows_a_requests_timing_and_bodies(
    page: Any, console: Console
) -> None:
    v1 = console.server.v1
    workspaces = httpx.get(f"{v1}/admin/workspaces", headers=_admin(console)).json()["items"]
    r = httpx.patch(
        f"{v1}/admin/workspaces/{workspaces[0]['uuid']}",
        json={"request_log_bodies_days": 7},
        headers=_admin(console),
    )
    assert r.status_code == 200, r.text
    created = httpx.post(f"{v1}/admin/api-keys", json={"name": "logged"}, headers=_admin(console))
    assert created.status_code == 200, created.text
    key_id, secret = created.json()["key_id"], created.json()["key"]
    assert _chat(console, secret, PROMPT).status_code == 200
    assert _chat(console, console.admin_key, "Hello.").status_code == 200
    assert _chat(console, console.admin_key, "Hello.", model="no-such-model").status_code == 404

    page.get_by_role("link", name="Request log").click()
    page.locator("#log-list table").wait_for()
    screenshot(page, "request-log")
    page.locator("#log-key").fill(key_id)
    _search(page)
    rows = _rows(page)
    assert rows and all(row[3] == key_id for row in rows), rows
    assert any(row[1] == "/v1/chat/completions" for row in rows)

    row = page.locator("#log-list tr", has_text="/v1/chat/completions").first
    row.get_by_role("button", name="Open").click()
    timing = page.locator("#log-timing")
    timing.wait_for()
    cells = dict(
        (r.locator("td").nth(0).text_content(), r.locator("td").nth(1).text_content())
        for r in timing.locator("tbody tr").all()
    )
    total = float(cells["Total (ms)"])
    ttft = float(cells["Time to first token (ms), queueing and prompt included"])
    assert 0 < ttft <= total and int(cells["Completion tokens"]) >= 1, cells
    assert 0 <= float(cells["Queued for an engine slot (ms)"]) <= ttft, cells
    assert int(cells["Prompt tokens"]) > 5
    messages = page.locator("#log-messages").text_content()
    assert PROMPT in messages, messages
    assert page.locator("#log-messages script, #log-messages b").count() == 0
    assert page.locator("#log-reply .message").count() >= 1
    screenshot(page, "request-log-detail")

    page.locator("#log-key").fill("")
    page.locator("#log-status").select_option("error")
    _search(page)
    rows = _rows(page)
    assert rows and all(int(row[4]) >= 400 for row in rows), rows
    assert any(row[2] == "no-such-model" and row[4] == "404" for row in rows), rows
    page.locator("#log-status").select_option("404")
    _search(page)
    assert {row[4] for row in _rows(page)} == {"404"}
    page.locator("#log-status").select_option("ok")
    page.locator("#log-model").fill(MODEL)
    _search(page)
    rows = _rows(page)
    assert len(rows) >= 2 and all(row[2] == MODEL and int(row[4]) < 400 for row in rows), rows

    page.locator("#log-min-latency").fill("1000000000")
    _search(page)
    page.get_by_text("No request matches.").wait_for()
    page.locator("#log-min-latency").fill("")
    page.locator("#log-from").fill("2999-01-01T00:00")
    _search(page)
    page.get_by_text("No request matches.").wait_for()
    page.locator("#log-from").fill("2020-01-01T00:00")
    page.locator("#log-to").fill("2999-01-01T00:00")
    _search(page)
    assert len(_rows(page)) >= 2
    assert page.dialogs == [] and page.errors == [], (page.dialogs, page.errors)
