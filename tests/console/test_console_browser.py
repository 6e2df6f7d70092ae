"""The console in a real browser (Chromium) against a real server on the packaged model: sign
in, keys, the playground's streamed replies, user text shown as text, and no request leaving
the server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.console.conftest import Console

pytestmark = pytest.mark.model


def test_the_console_is_served_with_a_policy_forbidding_inline_scripts(console: Console) -> None:
    for path in ("/console/", "/console/js/main.js", "/console/vendor/uPlot.esm.js"):
        r = httpx.get(console.server.url + path)
        assert r.status_code == 200, path
        policy = r.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "connect-src 'self'" in policy
        assert "set-cookie" not in r.headers
    assert httpx.get(f"{console.server.url}/console", follow_redirects=True).status_code == 200


def test_a_wrong_key_is_refused_at_sign_in(console: Console, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(console.url)
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("This API key is not accepted.").wait_for()
    assert page.evaluate("sessionStorage.length") == 0
    context.close()


def test_the_overview_shows_the_server_and_this_months_usage(page: Any) -> None:
    facts = page.locator("#overview-facts")
    facts.get_by_text("Server: ok").wait_for()
    facts.get_by_text("This month:").wait_for()
    assert "declared" in facts.text_content()


def test_navigation_names_every_page_and_keeps_the_key_in_the_tab(page: Any) -> None:
    for name in (
        "Overview",
        "Usage",
        "API keys",
        "Workspaces",
        "Models",
        "Playground",
        "Files",
        "Batch jobs",
        "Fine-tuning",
        "Request log",
    ):
        assert page.get_by_role("link", name=name, exact=True).count() == 1, name
    page.get_by_role("link", name="Files").click()
    page.locator("h1", has_text="Files").wait_for()
    # The key is kept in the tab's sessionStorage, never in the URL or a cookie.
    assert page.evaluate("sessionStorage.getItem('autan.apiKey')")
    assert "key" not in page.url.lower()
    assert page.context.cookies() == []


def test_a_created_key_is_shown_once_then_revoked_and_refused(page: Any, console: Console) -> None:
    page.get_by_role("link", name="API keys").click()
    page.locator("#key-name").fill("console-test")
    page.locator("#key-rpm").fill("60")
    assert page.locator("#key-workspace option").count() >= 1
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-secret").text_content()
    assert secret and len(secret) > 20
    assert page.get_by_role("button", name="Copy").is_visible()
    row = page.locator("tr", has_text="console-test")
    row.wait_for()
    assert "60" in row.text_content()  # its requests-per-minute limit
    assert secret not in page.locator("#key-list").text_content()
    models = f"{console.server.v1}/models"
    assert httpx.get(models, headers={"Authorization": f"Bearer {secret}"}).status_code == 200

    row.get_by_role("button", name="Revoke").click()
    row.wait_for(state="detached")
    assert httpx.get(models, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    # Shown once: a fresh visit to the page does not show it.
    page.get_by_role("link", name="Models").click()
    page.get_by_role("link", name="API keys").click()
    page.locator("#key-list table").wait_for()
    assert secret not in page.content()


def test_the_models_page_shows_the_packaged_model_and_its_state(page: Any) -> None:
    page.get_by_role("link", name="Models").click()
    page.locator("#memory").wait_for()
    row = page.locator("tr", has_text="smollm2-135m-instruct").first
    assert any(state in row.text_content() for state in ("loaded", "loading", "unloaded"))
    page.get_by_role("heading", name="Routed deployments").wait_for()


def _send(page: Any, message: str) -> None:
    page.get_by_label("Message").fill(message)
    page.get_by_role("button", name="Send").click()


def test_the_playground_streams_a_reply_in_pieces_and_reports_its_speed(page: Any) -> None:
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Max tokens").fill("24")
    page.get_by_label("Temperature").fill("0")
    page.locator("#pg-transcript").wait_for(state="attached")
    # Every length the reply takes, recorded by the page as it changes.
    page.evaluate(
        """() => {
            window.replyLengths = [];
            new MutationObserver(() => {
                const reply = document.querySelector('#pg-transcript .assistant');
                if (reply) window.replyLengths.push(reply.textContent.length);
            }).observe(document.getElementById('pg-transcript'),
                       {subtree: true, childList: true, characterData: true});
        }"""
    )
    _send(page, "Count from one to ten.")
    stats = page.locator("#pg-transcript .stats")
    stats.filter(has_text="tok/s").wait_for(timeout=120_000)
    lengths = page.evaluate("window.replyLengths")
    growing = sorted({n for n in lengths if n > 0})
    assert len(growing) >= 3, f"the reply did not arrive in pieces: {lengths}"
    assert "TTFT" in stats.text_content()
    assert page.locator("#pg-transcript .assistant").text_content().strip()


def test_a_prompt_holding_markup_shows_as_text_and_runs_nothing(page: Any) -> None:
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Max tokens").fill("4")
    markup = "<script>window.injected = 1</script><img src=x onerror='window.injected = 2'>"
    _send(page, markup)
    user = page.locator("#pg-transcript .user")
    user.wait_for()
    assert user.text_content() == markup
    page.locator("#pg-transcript .stats").filter(has_text="tok/s").wait_for(timeout=120_000)
    assert page.locator("#pg-transcript script, #pg-transcript img").count() == 0
    assert page.evaluate("window.injected") is None


def test_usage_and_the_request_log_show_what_was_asked(page: Any) -> None:
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Max tokens").fill("4")
    _send(page, "Say hi.")
    page.locator("#pg-transcript .stats").filter(has_text="tok/s").wait_for(timeout=120_000)

    page.get_by_role("link", name="Usage").click()
    page.locator("#usage-totals").wait_for()
    assert page.locator("#usage-chart canvas").count() >= 1
    assert page.locator("tr", has_text="smollm2-135m-instruct").count() == 1

    page.get_by_role("link", name="Request log").click()
    row = page.locator("#log-list tr", has_text="/v1/chat/completions").first
    row.wait_for()
    row.get_by_role("button", name="Open").click()
    page.locator("#log-detail h2").wait_for()


def test_no_request_leaves_the_server(page: Any, console: Console) -> None:
    for name in (
        "Usage",
        "API keys",
        "Workspaces",
        "Models",
        "Playground",
        "Request log",
        "Overview",
    ):
        page.get_by_role("link", name=name).click()
        page.wait_for_load_state("networkidle")
    hosts = {urlsplit(url).netloc for url in page.requested}
    assert hosts == {urlsplit(console.server.url).netloc}, hosts


def test_stop_ends_a_reply_and_keeps_what_arrived(page: Any) -> None:
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Max tokens").fill("400")
    _send(page, "Write a long story about a lighthouse.")
    reply = page.locator("#pg-transcript .assistant")
    page.wait_for_function(
        "() => document.querySelector('#pg-transcript .assistant')?.textContent.length > 20",
        timeout=120_000,
    )
    page.get_by_role("button", name="Stop").click()
    page.locator("#pg-transcript .stats").filter(has_text="stopped").wait_for()
    assert reply.text_content()
    assert page.get_by_role("button", name="Send").is_enabled()


def _key(console: Console, name: str) -> tuple[str, str]:
    r = httpx.post(
        f"{console.server.v1}/admin/api-keys",
        json={"name": name},
        headers={"Authorization": f"Bearer {console.admin_key}"},
    )
    assert r.status_code == 200, r.text
    return r.json()["key_id"], r.json()["key"]


def test_a_plain_key_is_refused_the_admin_pages_and_sent_back_to_sign_in_once_revoked(
    console: Console, browser: Any
) -> None:
    key_id, secret = _key(console, "console-plain")
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(console.url)
    page.get_by_label("API key").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Usage is shown to admin keys.").wait_for()
    page.get_by_role("link", name="Usage").click()
    page.get_by_role("alert").filter(has_text="403").wait_for()

    r = httpx.delete(
        f"{console.server.v1}/admin/api-keys/{key_id}",
        headers={"Authorization": f"Bearer {console.admin_key}"},
    )
    assert r.status_code == 200, r.text
    page.get_by_role("link", name="Models").click()
    page.get_by_text("The API key is no longer accepted.").wait_for()
    assert page.get_by_label("API key").is_visible()
    assert page.evaluate("sessionStorage.length") == 0
    context.close()
