"""The Files page in a real browser (Chromium) against a real ``autan serve``: uploads by the
file picker and by a drop, with their progress; download and delete; a file name holding markup
shown as text; and a key of another workspace seeing none of the default workspace's files and
jobs on the Files, Batch jobs and Fine-tuning pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import Console, screenshot, signed_in, upload

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"


def _batch_input() -> bytes:
    body = {"max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]}
    lines = (json.dumps({"custom_id": str(i), "body": body}) for i in range(3))
    return "".join(f"{line}\n" for line in lines).encode()


def _admin(console: Console) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.admin_key}"}


def _pick(page: Any, name: str, content: bytes, purpose: str) -> None:
    page.get_by_role("link", name="Files").click()
    page.locator("#file-purpose").select_option(purpose)
    page.locator("#file-picker").set_input_files(
        files=[{"name": name, "mimeType": "application/jsonl", "buffer": content}]
    )
    page.locator("#upload-status").filter(has_text="Uploaded").wait_for()


def test_files_uploaded_by_picker_and_by_drop_are_listed_downloaded_and_deleted(
    page: Any,
) -> None:
    content = _batch_input()
    _pick(page, "picked.jsonl", content, "batch")
    # The progress bar is full once the upload is done.
    assert page.locator("#upload-progress").evaluate("p => p.value") == 100
    row = page.locator("#file-list tr", has_text="picked.jsonl")
    row.wait_for()
    assert "batch" in row.text_content()

    # Dropped: a drop event carrying a file, as a browser sends one.
    page.locator("#file-purpose").select_option("fine-tune")
    transfer = page.evaluate_handle(
        """() => {
            const transfer = new DataTransfer();
            transfer.items.add(new File(['{"messages": []}\\n'], 'dropped.jsonl'));
            return transfer;
        }"""
    )
    page.dispatch_event("#file-drop", "drop", {"dataTransfer": transfer})
    dropped = page.locator("#file-list tr", has_text="dropped.jsonl")
    dropped.wait_for()
    assert "fine-tune" in dropped.text_content()

    with page.expect_download() as download:
        row.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "picked.jsonl"
    assert Path(download.value.path()).read_bytes() == content

    dropped.get_by_role("button", name="Delete").click()
    dropped.wait_for(state="detached")
    assert page.locator("#file-list tr", has_text="picked.jsonl").count() == 1
    screenshot(page, "files")
    assert page.errors == []


def test_the_upload_progress_bar_moves_while_a_file_is_sent(page: Any) -> None:
    # Uploads throttled to 1 MB/s (Chromium's own network emulation): 3 MB take about 3 s.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 1e6},
    )
    page.get_by_role("link", name="Files").click()
    page.locator("#upload-progress").wait_for(state="attached")
    page.evaluate(
        """() => {
            window.progress = [];
            const bar = document.getElementById('upload-progress');
            new MutationObserver(() => window.progress.push(bar.value))
                .observe(bar, {attributes: true, attributeFilter: ['value']});
        }"""
    )
    content = b"{}\n" * 1_000_000
    page.locator("#file-picker").set_input_files(
        files=[{"name": "large.jsonl", "mimeType": "application/jsonl", "buffer": content}]
    )
    page.locator("#upload-status").filter(has_text="Uploaded large.jsonl").wait_for(timeout=60_000)
    progress = page.evaluate("window.progress")
    assert progress[-1] == 100
    assert any(0 < value < 100 for value in progress), progress
    assert page.errors == []


def test_a_file_name_holding_markup_shows_as_text(page: Any) -> None:
    name = "<script>alert(1)</script>.jsonl"
    _pick(page, name, b"{}\n", "batch")
    cell = page.locator("#file-list td", has_text="alert(1)")
    cell.wait_for()
    assert cell.text_content() == name
    assert page.locator("#page script").count() == 0
    page.get_by_role("link", name="Batch jobs").click()
    assert page.locator("#batch-file option", has_text="alert(1)").text_content().startswith(name)
    assert page.dialogs == []
    assert page.errors == []


def test_a_workspace_key_sees_only_its_workspaces_files_and_jobs(
    console: Console, browser: Any
) -> None:
    admin = _admin(console)
    theirs = upload(console, console.admin_key, "default-workspace.jsonl", _batch_input(), "batch")
    r = httpx.post(
        f"{console.server.v1}/batch/jobs",
        headers=admin,
        json={"input_files": [theirs], "endpoint": "/v1/chat/completions", "model": MODEL},
    )
    assert r.status_code == 200, r.text
    their_job = r.json()["id"]
    workspace = httpx.post(
        f"{console.server.v1}/admin/workspaces", headers=admin, json={"name": "console-team"}
    ).json()["uuid"]
    key = httpx.post(
        f"{console.server.v1}/admin/api-keys",
        headers=admin,
        json={"name": "console-team-key", "workspace_uuid": workspace},
    ).json()["key"]
    upload(console, key, "team.jsonl", _batch_input(), "batch")

    page = signed_in(browser, console, key)
    # The Overview it lands on asks for the admin usage, refused to this key (a 403 the page
    # explains); the pages under test start from here.
    page.get_by_text("Usage is shown to admin keys.").wait_for()
    page.errors.clear()
    try:
        page.get_by_role("link", name="Files").click()
        page.locator("#file-list tr", has_text="team.jsonl").wait_for()
        assert "1 file in this key's workspace." in page.locator("#file-list").text_content()
        assert page.locator("#file-list tr", has_text="default-workspace.jsonl").count() == 0
        page.get_by_role("link", name="Batch jobs").click()
        page.locator("#batch-list p").first.wait_for()
        assert their_job not in page.locator("#batch-list").text_content()
        assert page.locator("#batch-file option", has_text="default-workspace").count() == 0
        page.get_by_role("link", name="Fine-tuning").click()
        page.locator("#ft-list p").first.wait_for()
        assert page.locator("#ft-training-file option").count() == 0
        assert page.errors == []
    finally:
        page.context.close()
    # The admin key's workspace does not see the team's file either.
    names = [
        f["filename"] for f in httpx.get(f"{console.server.v1}/files", headers=admin).json()["data"]
    ]
    assert "default-workspace.jsonl" in names and "team.jsonl" not in names
