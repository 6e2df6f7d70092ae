"""The console's Workspaces, API keys (limits), Playground (tools, JSON schema, code) and Usage
(date range, CSV) pages in Chromium against a real server on the packaged model. Each test
ends with no error in the browser's console; the main pages are saved as screenshots."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import Console, SignedIn, screenshot, sign_in
from tests.server import start_server, stop_server

pytestmark = pytest.mark.model

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 20}},
                "required": ["city"],
            },
        },
    }
]


def _admin(console: Console, method: str, path: str, **kwargs: Any) -> Any:
    r = httpx.request(
        method,
        f"{console.server.v1}{path}",
        headers={"Authorization": f"Bearer {console.admin_key}"},
        **kwargs,
    )
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def _workspace_with_key(console: Console, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    workspace = _admin(console, "POST", "/admin/workspaces", json={"name": name})
    key = _admin(
        console,
        "POST",
        "/admin/api-keys",
        json={"name": f"{name}-key", "workspace_uuid": workspace["uuid"]},
    )
    return workspace, key


@pytest.fixture
def admin(console: Console, browser: Any) -> Iterator[SignedIn]:
    signed_in = sign_in(console, browser, console.admin_key)
    try:
        yield signed_in
        assert signed_in.errors == [], "errors in the browser's console"
    finally:
        signed_in.page.context.close()


def test_workspaces_are_created_limited_and_archived_and_their_keys_refused(
    admin: SignedIn, console: Console
) -> None:
    page = admin.page
    page.get_by_role("link", name="Workspaces", exact=True).click()
    page.locator("#ws-name").fill("Research")
    page.locator("#ws-description").fill("the research team")
    page.get_by_role("button", name="Create workspace").click()
    row = page.locator("#workspace-list tr", has_text="Research")
    row.wait_for()
    assert "no monthly limit" in row.text_content()
    (research,) = [
        w
        for w in _admin(console, "GET", "/admin/workspaces", params={"page_size": 1000})["items"]
        if w["name"] == "Research"
    ]
    member = _admin(
        console,
        "POST",
        "/admin/api-keys",
        json={"name": "research-member", "workspace_uuid": research["uuid"]},
    )

    row.get_by_role("button", name="Keys and limits").click()
    member_row = page.locator("#workspace-detail tr", has_text="research-member")
    member_row.get_by_role("button", name="Edit limits").click()
    page.locator("#ws-key-editor .edit-rpm").fill("7")
    page.locator("#ws-key-editor").get_by_role("button", name="Save limits").click()
    page.locator("#ws-key-editor form").wait_for(state="detached")  # saved, the list shown again
    assert "7" in page.locator("#workspace-detail tr", has_text="research-member").text_content()
    limits = _admin(console, "GET", "/admin/rate-limit", params={"key_id": member["key_id"]})
    assert limits["requests_per_minute"] == 7
    page.locator("#ws-spend-limit").fill("12.5")
    page.get_by_role("button", name="Set spend limit").click()
    page.locator("#ws-spend", has_text="limit 12.5").wait_for()
    page.locator("#workspace-list tr", has_text="limit 12.5").wait_for()
    page.locator("#ws-rpm").fill("600")
    page.locator("#ws-tpm").fill("90000")
    page.get_by_role("button", name="Set rate limits").click()
    page.locator("#ws-rate-limits", has_text="600 requests and 90000 tokens").wait_for()
    (changed,) = [
        w
        for w in _admin(console, "GET", "/admin/workspaces", params={"page_size": 1000})["items"]
        if w["name"] == "Research"
    ]
    assert changed["requests_per_minute"] == 600 and changed["tokens_per_minute"] == 90000
    screenshot(page, "workspaces")

    models = f"{console.server.v1}/models"
    auth = {"Authorization": f"Bearer {member['key']}"}
    assert httpx.get(models, headers=auth).status_code == 200
    row.get_by_role("button", name="Archive").click()
    row.wait_for(state="detached")
    assert httpx.get(models, headers=auth).status_code == 401
    page.locator("#ws-show-archived").check()
    page.locator("#workspace-list tr", has_text="Research").wait_for()


def test_a_key_s_limits_are_changed_and_hold_at_once(admin: SignedIn, console: Console) -> None:
    key = _admin(console, "POST", "/admin/api-keys", json={"name": "limited"})
    page = admin.page
    page.get_by_role("link", name="API keys").click()
    row = page.locator("#key-list tr", has_text="limited")
    row.get_by_role("button", name="Edit limits").click()
    editor = page.locator("#key-editor")
    editor.locator(".edit-rpm").fill("1")
    editor.locator(".edit-tpm").fill("5000")
    editor.locator(".edit-models").fill("smollm2-135m-instruct, mistral-small-latest")
    editor.locator(".edit-expiration").fill("2999-12-31")
    screenshot(page, "api-keys")
    editor.get_by_role("button", name="Save limits").click()
    page.locator("#key-list tr", has_text="2999-12-31").wait_for()
    text = page.locator("#key-list tr", has_text="limited").text_content()
    assert "5000" in text and "smollm2-135m-instruct, mistral-small-latest" in text

    auth = {"Authorization": f"Bearer {key['key']}"}
    limits = _admin(console, "GET", "/admin/rate-limit", params={"key_id": key["key_id"]})
    assert limits["requests_per_minute"] == 1 and limits["tokens_per_minute"] == 5000
    assert httpx.get(f"{console.server.v1}/models", headers=auth).status_code == 200
    refused = httpx.get(f"{console.server.v1}/models", headers=auth)
    assert refused.status_code == 429, "the new limit of 1 a minute holds at once"


def test_a_workspace_key_sees_only_its_own_workspace_read_only(
    console: Console, browser: Any
) -> None:
    _, own = _workspace_with_key(console, "Alpha")
    _, other = _workspace_with_key(console, "Beta")
    signed_in = sign_in(console, browser, own["key"])
    page = signed_in.page
    try:
        page.get_by_role("link", name="Workspaces", exact=True).click()
        page.locator("#ws-read-only").wait_for()
        page.locator("#workspace-list tr", has_text="Alpha").wait_for()
        assert page.locator("#workspace-list tbody tr").count() == 1
        assert page.get_by_role("button", name="Archive").count() == 0
        assert page.locator("#workspace-create").count() == 0

        page.get_by_role("link", name="API keys").click()
        page.locator("#keys-read-only").wait_for()
        page.locator("#key-list tr", has_text="Alpha-key").wait_for()
        listed = page.locator("#key-list").text_content()
        assert "Beta-key" not in listed and other["hidden_key"] not in listed
        assert "Alpha-key" in listed
        assert page.get_by_role("button", name="Revoke").count() == 0
        assert page.get_by_role("button", name="Edit limits").count() == 0
        # Only the admin probe's 403 reaches the console: nothing failed in the page.
        unexpected = [e for e in signed_in.errors if "status of 403" not in e]
        assert unexpected == []
    finally:
        page.context.close()


def _playground(page: Any) -> None:
    page.get_by_role("link", name="Playground").click()
    page.locator("#pg-transcript").wait_for(state="attached")
    page.get_by_label("Temperature").fill("0")


def test_a_forced_tool_call_is_shown_and_the_code_is_the_exact_request(
    admin: SignedIn, console: Console
) -> None:
    page = admin.page
    _playground(page)
    page.get_by_label("Max tokens").fill("40")
    page.locator("#pg-tools-box summary").click()
    page.locator("#pg-tools").fill(json.dumps(TOOLS))
    page.get_by_label("Tool choice").select_option("any")
    assert page.locator("#pg-tool-choice option[value='function:get_weather']").count() == 1
    page.get_by_label("Message").fill("What is the weather in Paris?")

    page.get_by_role("button", name="View code").click()
    curl = page.locator("#pg-code-curl").text_content()
    shown = json.loads(curl.split("-d '", 1)[1].rsplit("'", 1)[0])
    mistralai = page.locator("#pg-code-mistralai").text_content()
    openai = page.locator("#pg-code-openai").text_content()
    assert "client.chat.stream(" in mistralai and 'tool_choice="any"' in mistralai
    assert f'server_url="{console.server.url}"' in mistralai
    assert "client.chat.completions.create(" in openai and "stream=True" in openai
    assert console.admin_key not in curl + mistralai + openai, "the key is never in the code"
    screenshot(page, "playground-code")

    with page.expect_request("**/v1/chat/completions") as sent:
        page.get_by_role("button", name="Send").click()
    assert json.loads(sent.value.post_data) == shown, "the code shows the exact request"
    call = page.locator("#pg-transcript .tool-call")
    call.wait_for(timeout=120_000)
    assert "get_weather" in call.locator(".tool-call-name").text_content()
    arguments = json.loads(call.locator(".tool-call-arguments").text_content())
    assert isinstance(arguments.get("city"), str)
    page.locator("#pg-transcript .stats").filter(has_text="tok/s").wait_for(timeout=120_000)
    screenshot(page, "playground-tools")


def test_a_json_schema_reply_is_shown_parsed(admin: SignedIn) -> None:
    page = admin.page
    _playground(page)
    page.get_by_label("Max tokens").fill("60")
    page.locator("#pg-format-box summary").click()
    page.get_by_label("Format").select_option("json_schema")
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string", "maxLength": 12}},
        "required": ["colour"],
    }
    page.locator("#pg-schema").fill(json.dumps(schema))
    page.get_by_label("Message").fill("Name a colour.")
    page.get_by_role("button", name="Send").click()
    parsed = page.locator("#pg-transcript .parsed-json pre")
    parsed.wait_for(timeout=120_000)
    assert isinstance(json.loads(parsed.text_content())["colour"], str)


def test_fim_mode_is_offered_only_for_models_that_do_fim(admin: SignedIn) -> None:
    page = admin.page
    _playground(page)
    page.locator("#pg-model").select_option("smollm2-135m-instruct")
    assert page.locator("#pg-mode option[value='fim']").is_disabled()
    assert page.locator("#pg-suffix-field").is_hidden()


def test_a_script_prompt_renders_as_text_with_tools_on(admin: SignedIn) -> None:
    page = admin.page
    _playground(page)
    page.get_by_label("Max tokens").fill("4")
    markup = "<script>window.injected = 1</script><b>bold</b>"
    page.get_by_label("Message").fill(markup)
    page.get_by_role("button", name="Send").click()
    user = page.locator("#pg-transcript .user").last
    user.wait_for()
    assert user.text_content() == markup
    page.locator("#pg-transcript .stats").filter(has_text="tok/s").wait_for(timeout=120_000)
    assert page.locator("#pg-transcript script, #pg-transcript b").count() == 0
    assert page.evaluate("window.injected") is None


def test_usage_charts_todays_requests_and_exports_them_as_csv(
    admin: SignedIn, console: Console
) -> None:
    before = _admin(console, "GET", "/admin/usage")["requests"]["interactive"]
    for _ in range(2):
        r = httpx.post(
            f"{console.server.v1}/chat/completions",
            json={
                "model": "smollm2-135m-instruct",
                "messages": [{"role": "user", "content": "Hi"}],
                "max_tokens": 2,
            },
            headers={"Authorization": f"Bearer {console.admin_key}"},
            timeout=120,
        )
        assert r.status_code == 200, r.text
    page = admin.page
    page.get_by_role("link", name="Usage").click()
    page.locator("#usage-chart canvas").wait_for()
    today = datetime.now(UTC).date().isoformat()
    charted = page.evaluate(
        """(today) => {
            const [x, , , requests] = document.querySelector('#usage-chart').plot.data;
            return requests[x.indexOf(Date.parse(today + 'T00:00:00Z') / 1000)];
        }""",
        today,
    )
    assert charted >= before + 2, "the chart counts the requests just made"
    assert "interactive" in page.locator("#usage-by-kind").text_content()
    assert "Default Workspace" in page.locator("#usage-by-workspace").text_content()
    screenshot(page, "usage")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    todays = [r for r in rows if r["date"] == today and r["kind"] != "management"]
    assert sum(int(r["requests"]) for r in todays) == charted
    assert {r["kind"] for r in todays} == {"interactive"}
    assert any(r["kind"] == "management" for r in rows), "listing models is counted apart"
    assert {r["currency"] for r in rows} == {"USD"}
    assert {r["workspace_name"] for r in todays} >= {"Default Workspace"}
    page.get_by_role("link", name="Overview").click()
    page.locator("#overview-facts").get_by_text("This month:").wait_for()
    screenshot(page, "overview")
    page.get_by_role("link", name="Usage").click()
    page.locator("#usage-chart canvas").wait_for()

    page.locator("#usage-from").fill("2020-01-01")
    page.locator("#usage-to").fill("2020-01-31")
    page.get_by_role("button", name="Show").click()
    page.get_by_text("No usage in this range.").wait_for()


def test_fim_mode_completes_between_a_prompt_and_a_suffix(
    browser: Any, codestral_tekken: Path, tmp_path: Path
) -> None:
    """A model whose card says it fills in the middle (a tiny random-weight Codestral) gets
    FIM mode: a prompt and a suffix, sent to /v1/fim/completions and streamed back."""
    proc, server = start_server(
        "--model",
        str(codestral_tekken),
        "--data-dir",
        str(tmp_path),
        "--ctx-size",
        "1024",
        "--threads",
        "1",
        auth=True,
    )
    try:
        console = Console(server, (tmp_path / "admin_key").read_text().strip())
        signed_in = sign_in(console, browser, console.admin_key)
        page = signed_in.page
        _playground(page)
        page.get_by_label("Max tokens").fill("8")
        page.locator("#pg-mode").select_option("fim")
        assert page.locator("#pg-chat-fields").is_hidden()
        page.get_by_label("Prompt (the code before the gap)").fill("def add(a, b):\n    return ")
        page.get_by_label("Suffix (the code after the gap)").fill("\n\nprint(add(1, 2))\n")
        page.get_by_role("button", name="View code").click()
        assert "client.fim.stream(" in page.locator("#pg-code-mistralai").text_content()
        with page.expect_request("**/v1/fim/completions") as sent:
            page.get_by_role("button", name="Send").click()
        body = json.loads(sent.value.post_data)
        assert body["prompt"] == "def add(a, b):\n    return "
        assert body["suffix"] == "\n\nprint(add(1, 2))\n" and body["stream"] is True
        stats = page.locator("#pg-transcript .stats").filter(has_text="tok/s")
        stats.wait_for(timeout=120_000)
        assert 1 <= int(stats.text_content().split()[0]) <= 8  # "N tokens · TTFT ..."
        assert signed_in.errors == []
        page.context.close()
    finally:
        stop_server(proc)
