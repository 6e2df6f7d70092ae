"""``/v1/files`` with the official SDK: upload, list, retrieve, download, delete, signed URLs,
the size limit and workspace scoping."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mistralai import Mistral
from mistralai.models import SDKError

from autan.accounts.audit_log import Actor
from autan.settings import FilesSettings
from autan.storage.job_tables import FileRow
from tests.api.conftest import Platform, platform_app

LIMIT = 4000


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    yield from platform_app(tmp_path, files=FilesSettings(max_upload_bytes=LIMIT))


def sdk(platform: Platform, secret: str | None = None) -> Mistral:
    return Mistral(
        api_key=secret or platform.admin_key, server_url="http://testserver", client=platform.client
    )


def other_workspace_key(platform: Platform) -> str:
    workspace = platform.accounts.workspaces.create(name="other", actor=Actor.command_line())
    _, secret = platform.key(workspace_id=workspace.id)
    return secret


def test_upload_list_retrieve_download_delete(platform: Platform) -> None:
    client = sdk(platform)
    content = b'{"custom_id": "0", "body": {}}\n{"custom_id": "1", "body": {}}\n'
    uploaded = client.files.upload(
        file={"file_name": "input.jsonl", "content": content}, purpose="batch"
    )
    assert uploaded.size_bytes == len(content)
    assert (uploaded.filename, uploaded.purpose, uploaded.source) == (
        "input.jsonl",
        "batch",
        "upload",
    )
    assert uploaded.sample_type == "batch_request" and uploaded.num_lines == 2
    stored = platform.client.app.state.batch.files.get_any(uploaded.id)  # type: ignore[attr-defined]
    assert stored.sha256 == hashlib.sha256(content).hexdigest()

    listed = client.files.list()
    assert [f.id for f in listed.data] == [uploaded.id] and listed.total == 1
    assert client.files.retrieve(file_id=uploaded.id).deleted is False

    download = client.files.download(file_id=uploaded.id)
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.read() == content

    assert client.files.delete(file_id=uploaded.id).deleted is True
    assert client.files.list().total == 0
    with pytest.raises(SDKError) as e:
        client.files.retrieve(file_id=uploaded.id)
    assert e.value.status_code == 404


def test_list_filters_and_pages_as_the_sdk_sends_them(platform: Platform) -> None:
    client = sdk(platform)
    for name, purpose in [("a.jsonl", "batch"), ("b.jsonl", "fine-tune"), ("c.txt", "batch")]:
        client.files.upload(file={"file_name": name, "content": b"{}\n"}, purpose=purpose)  # type: ignore[arg-type]
    assert {f.filename for f in client.files.list(purpose="batch").data} == {"a.jsonl", "c.txt"}
    assert [f.filename for f in client.files.list(search="b.js").data] == ["b.jsonl"]
    assert [f.filename for f in client.files.list(sample_type=["instruct"]).data] == ["b.jsonl"]
    page = client.files.list(page=1, page_size=2)
    assert len(page.data) == 1 and page.total == 3


def test_upload_over_the_limit_is_413_and_keeps_nothing(platform: Platform, tmp_path: Path) -> None:
    client = sdk(platform)
    # Small enough to pass the Content-Length check: refused while streaming to the blob store.
    with pytest.raises(SDKError) as e:
        client.files.upload(file={"file_name": "big.jsonl", "content": b"x" * (LIMIT + 1)})
    assert e.value.status_code == 413
    assert "4000 bytes" in e.value.body
    # Far over: refused from its Content-Length, before the body is read.
    r = platform.client.post(
        "/v1/files",
        files={"file": ("huge.jsonl", b"x" * (LIMIT + 100_000))},
        headers={"Authorization": f"Bearer {platform.admin_key}"},
    )
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
    assert client.files.list().total == 0
    assert list((tmp_path / "files").iterdir()) == []


def test_bad_purpose_and_missing_file_part_are_400(platform: Platform) -> None:
    auth = {"Authorization": f"Bearer {platform.admin_key}"}
    r = platform.client.post(
        "/v1/files", files={"file": ("a.jsonl", b"{}")}, data={"purpose": "x"}, headers=auth
    )
    assert r.status_code == 400 and r.json()["param"] == "purpose"
    r = platform.client.post("/v1/files", data={"purpose": "batch"}, headers=auth)
    assert r.status_code == 400 and r.json()["param"] == "file"


def test_a_key_sees_only_its_workspace_files(platform: Platform) -> None:
    mine = sdk(platform).files.upload(file={"file_name": "mine.jsonl", "content": b"{}\n"})
    theirs = sdk(platform, other_workspace_key(platform))
    assert theirs.files.list().total == 0
    for call in (
        lambda: theirs.files.retrieve(file_id=mine.id),
        lambda: theirs.files.download(file_id=mine.id),
        lambda: theirs.files.delete(file_id=mine.id),
        lambda: theirs.files.get_signed_url(file_id=mine.id),
    ):
        with pytest.raises(SDKError) as e:
            call()
        assert e.value.status_code == 404
        assert f"No file with id {mine.id}" in e.value.body
    assert sdk(platform).files.retrieve(file_id=mine.id).id == mine.id


def test_signed_url_downloads_without_a_key_until_it_expires(platform: Platform) -> None:
    client = sdk(platform)
    file = client.files.upload(file={"file_name": "a.jsonl", "content": b"signed\n"})
    url = client.files.get_signed_url(file_id=file.id, expiry=1).url
    r = platform.client.get(url)
    assert r.status_code == 200 and r.content == b"signed\n"
    assert r.headers["content-type"] == "application/octet-stream"
    parsed = httpx.URL(url)
    tampered = parsed.copy_merge_params({"expires": str(int(parsed.params["expires"]) + 3600)})
    assert platform.client.get(str(tampered)).status_code == 404
    signer = platform.client.app.state.batch.signer  # type: ignore[attr-defined]
    expired = parsed.copy_merge_params({"expires": "1", "signature": signer.signature(file.id, 1)})
    assert platform.client.get(str(expired)).status_code == 404
    assert platform.client.get(f"/v1/files/{file.id}/content").status_code == 401


def test_files_are_off_on_an_app_built_without_them(client: httpx.Client) -> None:
    r = client.get("/v1/files")
    assert r.status_code == 403 and "turned off" in r.json()["message"]


def upload(platform: Platform, secret: str, **fields: str) -> httpx.Response:
    return platform.client.post(
        "/v1/files",
        files={"file": ("a.jsonl", b"{}\n")},
        data={"purpose": "batch", **fields},
        headers={"Authorization": f"Bearer {secret}"},
    )


def test_a_user_file_is_seen_only_by_the_key_that_uploaded_it(platform: Platform) -> None:
    _, colleague = platform.key()  # same workspace, another key
    private = upload(platform, platform.admin_key, visibility="user").json()
    shared = upload(platform, platform.admin_key, visibility="workspace").json()
    assert private["visibility"] == "user" and shared["visibility"] == "workspace"
    theirs = sdk(platform, colleague)
    assert [f.id for f in theirs.files.list().data] == [shared["id"]]
    for call in (
        lambda: theirs.files.retrieve(file_id=private["id"]),
        lambda: theirs.files.download(file_id=private["id"]),
        lambda: theirs.files.delete(file_id=private["id"]),
    ):
        with pytest.raises(SDKError) as e:
            call()
        assert e.value.status_code == 404
    r = platform.client.post(
        "/v1/batch/jobs",
        json={"input_files": [private["id"]], "endpoint": "/v1/chat/completions"},
        headers={"Authorization": f"Bearer {colleague}"},
    )
    assert r.status_code == 404
    assert {f.id for f in sdk(platform).files.list().data} == {private["id"], shared["id"]}


def test_an_expired_file_is_gone_and_its_bytes_are_removed(
    platform: Platform, tmp_path: Path
) -> None:
    file = upload(platform, platform.admin_key, expiry="1").json()
    assert file["expires_at"] is not None
    client = sdk(platform)
    assert client.files.retrieve(file_id=file["id"]).id == file["id"]
    store = platform.client.app.state.batch.files  # type: ignore[attr-defined]
    with store._db.session() as session, session.begin():
        row = session.get(FileRow, file["id"])
        row.expires_at = row.created_at  # an hour has passed
    assert client.files.list().total == 0
    with pytest.raises(SDKError) as e:
        client.files.retrieve(file_id=file["id"])
    assert e.value.status_code == 404
    blobs = sorted((tmp_path / "files").rglob("*"))
    assert store.purge_expired() == 1
    assert sorted((tmp_path / "files").rglob("*")) != blobs  # the bytes went with it


def test_bad_visibility_and_expiry_are_400(platform: Platform) -> None:
    r = upload(platform, platform.admin_key, visibility="everyone")
    assert r.status_code == 400 and r.json()["param"] == "visibility"
    for expiry in ("0", "soon", "100000"):
        r = upload(platform, platform.admin_key, expiry=expiry)
        assert r.status_code == 400 and r.json()["param"] == "expiry"
