"""``/v1/files`` with the official SDK: upload, list, retrieve, download, delete, signed URLs,
the size limit and workspace scoping."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
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
    stored = platform.client.app.state.platform.batch.files.get_any(uploaded.id)  # type: ignore[attr-defined]
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
    signer = platform.client.app.state.platform.batch.signer  # type: ignore[attr-defined]
    expired = parsed.copy_merge_params({"expires": "1", "signature": signer.signature(file.id, 1)})
    assert platform.client.get(str(expired)).status_code == 404
    assert platform.client.get(f"/v1/files/{file.id}/content").status_code == 401


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
    store = platform.client.app.state.platform.batch.files  # type: ignore[attr-defined]
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


def test_a_file_named_outside_latin_1_downloads_with_its_name_encoded(
    platform: Platform,
) -> None:
    client = sdk(platform)
    name = "données-日本語 ✓.jsonl"
    file = client.files.upload(file={"file_name": name, "content": b"{}\n"})
    assert file.filename == name
    r = platform.client.get(
        f"/v1/files/{file.id}/content", headers={"Authorization": f"Bearer {platform.admin_key}"}
    )
    assert r.status_code == 200 and r.content == b"{}\n"
    disposition = r.headers["content-disposition"]
    assert disposition.isascii()
    assert "filename*=UTF-8''donn%C3%A9es-%E6%97%A5%E6%9C%AC%E8%AA%9E%20%E2%9C%93.jsonl" in (
        disposition
    )
    assert 'filename="donn_es-___ _.jsonl"' in disposition


def stored_file(platform: Platform, filename: str) -> str:
    """A file stored under ``filename`` whatever the upload form allows; its id."""
    store = platform.client.app.state.platform.batch.files  # type: ignore[attr-defined]
    workspace = platform.accounts.workspaces.default().id

    async def chunks() -> AsyncIterator[bytes]:
        yield b"{}\n"

    file = asyncio.run(store.create(workspace, chunks(), filename=filename, purpose="batch"))
    return str(file.id)


@pytest.mark.parametrize(
    "filename", ['a"; filename="evil.sh', "a\r\nSet-Cookie: x=1", 'back\\slash"', "tab\there"]
)
def test_quotes_and_line_breaks_in_a_file_name_stay_inside_content_disposition(
    platform: Platform, filename: str
) -> None:
    file_id = stored_file(platform, filename)
    r = platform.client.get(
        f"/v1/files/{file_id}/content", headers={"Authorization": f"Bearer {platform.admin_key}"}
    )
    assert r.status_code == 200 and "set-cookie" not in r.headers
    # One quoted ASCII fallback, then the exact name in RFC 5987 attr-chars: nothing else.
    match = re.fullmatch(
        r"attachment; filename=\"([ -~]*)\"; filename\*=UTF-8''([A-Za-z0-9%!#$&+.^_`|~-]*)",
        r.headers["content-disposition"],
    )
    assert match is not None, r.headers["content-disposition"]
    assert '"' not in match[1] and "\\" not in match[1]
    assert urllib.parse.unquote(match[2]) == filename


def raw_upload(platform: Platform, filename: bytes) -> httpx.Response:
    """An upload whose part header names ``filename`` byte for byte (clients escape some)."""
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/jsonl\r\n\r\n{}\n\r\n"
        b'--B\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--B--\r\n'
    )
    return platform.client.post(
        "/v1/files",
        content=body,
        headers={
            "Authorization": f"Bearer {platform.admin_key}",
            "Content-Type": "multipart/form-data; boundary=B",
        },
    )


def test_a_file_name_with_a_nul_or_past_the_column_length_is_400(platform: Platform) -> None:
    for name in (b"a\x00b.jsonl", b"n" * 513):
        r = raw_upload(platform, name)
        assert r.status_code == 400 and r.json()["param"] == "file name", r.text
    assert raw_upload(platform, b"n" * 512).status_code == 200
    assert sdk(platform).files.list().total == 1


def test_a_signature_that_is_not_ascii_is_404(platform: Platform) -> None:
    client = sdk(platform)
    file = client.files.upload(file={"file_name": "a.jsonl", "content": b"{}\n"})
    expires = int(time.time()) + 3600
    for signature in ("é" * 64, "\x00", "日本"):
        r = platform.client.get(
            f"/v1/files/{file.id}/content",
            params={"expires": str(expires), "signature": signature},
        )
        assert r.status_code == 404 and r.json()["object"] == "error", r.text


def test_the_signed_url_ignores_the_host_header(platform: Platform) -> None:
    file = sdk(platform).files.upload(file={"file_name": "a.jsonl", "content": b"{}\n"})
    r = platform.client.get(
        f"/v1/files/{file.id}/url",
        headers={"Authorization": f"Bearer {platform.admin_key}", "Host": "evil.example"},
    )
    url = r.json()["url"]
    assert "evil.example" not in url
    # Unset, the public URL is the address served (127.0.0.1:8000 by default).
    assert url.startswith(f"http://127.0.0.1:8000/v1/files/{file.id}/content?expires=")


def test_the_signed_url_starts_with_the_configured_public_url(tmp_path: Path) -> None:
    files = FilesSettings(public_url="https://llm.example.com/autan/")
    for platform in platform_app(tmp_path, files=files):
        file = sdk(platform).files.upload(file={"file_name": "a.jsonl", "content": b"{}\n"})
        r = platform.client.get(
            f"/v1/files/{file.id}/url",
            headers={"Authorization": f"Bearer {platform.admin_key}", "Host": "evil.example"},
        )
        url = r.json()["url"]
        assert url.startswith(f"https://llm.example.com/autan/v1/files/{file.id}/content?")


def test_a_file_whose_bytes_are_not_here_is_an_error_not_an_empty_200(
    platform: Platform, tmp_path: Path
) -> None:
    client = sdk(platform)
    file = client.files.upload(file={"file_name": "a.jsonl", "content": b"{}\n" * 100})
    url = client.files.get_signed_url(file_id=file.id).url
    # As on a process whose data directory never received the upload.
    for blob in (tmp_path / "files").iterdir():
        blob.unlink()
    for r in (
        platform.client.get(
            f"/v1/files/{file.id}/content",
            headers={"Authorization": f"Bearer {platform.admin_key}"},
        ),
        platform.client.get(url),
    ):
        assert r.status_code == 500
        assert r.json()["code"] == "file_content_missing"
        assert "not on this server" in r.json()["message"]


def test_an_upload_without_content_length_is_read_no_further_than_the_limit(
    platform: Platform, tmp_path: Path
) -> None:
    """A chunked body declares no length: it is counted as it comes, and the answer is 413
    once the limit (plus room for the form's envelope) is passed, not after the whole body."""
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'
        sent += len(head)
        yield head
        while sent < 16 * 1024**2:
            sent += 4096
            yield b"x" * 4096
        yield b"\r\n--B--\r\n"

    async def post() -> httpx.Response:
        # httpx's ASGI transport hands the app the body chunk by chunk, as a server does.
        transport = httpx.ASGITransport(app=platform.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.post(
                "/v1/files",
                content=body(),
                headers={
                    "Authorization": f"Bearer {platform.admin_key}",
                    "Content-Type": "multipart/form-data; boundary=B",
                },
            )

    assert platform.client.portal is not None
    r = platform.client.portal.call(post)
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
    assert sent <= LIMIT + 64 * 1024 + 4096
    assert list((tmp_path / "files").iterdir()) == []
