"""The console's files: served from the package, each answer with the security headers."""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from autan.console.console_files import STATIC_DIR, ConsoleFiles


def _client() -> TestClient:
    return TestClient(Starlette(routes=[Mount("/console", ConsoleFiles())]))


def test_the_index_is_served_with_a_policy_forbidding_inline_scripts() -> None:
    r = _client().get("/console/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    policy = r.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe" not in policy
    assert r.headers["x-frame-options"] == "DENY"
    assert "set-cookie" not in r.headers


def test_a_missing_file_is_not_found_with_the_same_headers() -> None:
    r = _client().get("/console/nothing.js")
    assert r.status_code == 404
    assert "content-security-policy" in r.headers


def test_the_pages_hold_no_inline_script_and_load_nothing_from_elsewhere() -> None:
    for path in STATIC_DIR.rglob("*"):
        if path.suffix not in (".html", ".js", ".css") or "vendor" in path.parts:
            continue
        text = path.read_text()
        assert not re.search(r"https?://", text), path
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path
        if path.suffix == ".html":
            # Every <script> names a file: no inline code, no inline handlers.
            assert all(" src=" in tag for tag in re.findall(r"<script[^>]*>", text)), path
            assert not re.search(r"\son[a-z]+=", text), path
