"""The JavaScript clients, unchanged, against the real server on the packaged model: the
official TypeScript SDK (``@mistralai/mistralai``) and the Vercel AI SDK (``ai`` with
``@ai-sdk/mistral``). Both validate every reply against their own schemas, so a field sent as
null where Mistral sends none fails here.

``make dev`` installs them (``npm ci`` in tests/js, versions pinned by its lock file). Without
node or the installed packages these tests are skipped, or fail with ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests.server import ROOT, Server

pytestmark = pytest.mark.model

JS = ROOT / "tests" / "js"
SCRIPT = JS / "clients.mjs"
PACKAGES = ("@mistralai/mistralai", "ai", "@ai-sdk/mistral", "zod")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must provide it (`make dev` runs npm ci in tests/js)")
    pytest.skip(f"{reason}: run `make dev` (npm ci --prefix tests/js) to test the JS clients")


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        _unavailable("node is not installed")
    assert found is not None
    missing = [p for p in PACKAGES if not (JS / "node_modules" / p / "package.json").is_file()]
    if missing:
        _unavailable(f"the JS clients are not installed in {JS / 'node_modules'} ({missing})")
    return found


def run(node: str, server: Server, scenario: str) -> Any:
    out = subprocess.run(
        [node, str(SCRIPT), scenario, server.url],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, f"{scenario} failed:\n{out.stderr}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def _is_call_id(value: str) -> bool:
    return len(value) == 9 and value.isalnum()


# The official TypeScript SDK.


def test_sdk_chat(node: str, server: Server) -> None:
    r = run(node, server, "mistralai:chat")
    assert isinstance(r["content"], str) and r["content"]
    assert r["finish"] in ("stop", "length")
    usage = r["usage"]
    assert usage["promptTokens"] > 0 and 0 < usage["completionTokens"] <= 16
    assert usage["totalTokens"] == usage["promptTokens"] + usage["completionTokens"]


def test_sdk_stream(node: str, server: Server) -> None:
    r = run(node, server, "mistralai:stream")
    assert r["text"] == r["full"] and r["text"]
    assert r["firstRole"] == "assistant"
    *running, last = r["finishes"]
    assert set(running) == {None} and last in ("stop", "length")
    assert r["usage"]["completionTokens"] > 0


@pytest.mark.parametrize("scenario", ["mistralai:tools", "mistralai:tools-stream"])
def test_sdk_tool_calls(node: str, server: Server, scenario: str) -> None:
    r = run(node, server, scenario)
    assert r["finish"] == "tool_calls"
    assert r["content"] == ""
    (call,) = r["calls"]
    assert call["name"] == "get_weather" and _is_call_id(call["id"])
    assert set(json.loads(call["arguments"])) == {"city"}


def test_sdk_json_schema(node: str, server: Server) -> None:
    r = run(node, server, "mistralai:json-schema")
    answer = json.loads(r["content"])
    assert isinstance(answer["answer"], str) and isinstance(answer["sure"], bool)
    assert r["finish"] == "stop"


def test_sdk_embeddings(node: str, server: Server) -> None:
    r = run(node, server, "mistralai:embeddings")
    first, second = r["dims"]
    assert first == second > 0
    assert r["usage"]["promptTokens"] > 0


def test_sdk_raises_its_typed_error(node: str, server: Server) -> None:
    r = run(node, server, "mistralai:error")
    assert r["typed"] and r["name"] == "SDKError" and r["status"] == 404
    assert r["body"]["object"] == "error" and r["body"]["code"] == "model_not_found"


# The Vercel AI SDK with its Mistral provider.


def test_ai_sdk_generate_text(node: str, server: Server) -> None:
    r = run(node, server, "ai:chat")
    assert isinstance(r["content"], str) and r["content"]
    assert r["finish"] in ("stop", "length")
    assert r["usage"]["inputTokens"] > 0 and 0 < r["usage"]["outputTokens"] <= 16


def test_ai_sdk_stream_text(node: str, server: Server) -> None:
    r = run(node, server, "ai:stream")
    assert r["errors"] == []
    assert r["text"] == r["full"] and r["pieces"] > 1
    assert r["finish"] in ("stop", "length")
    assert r["usage"]["outputTokens"] > 0


@pytest.mark.parametrize("scenario", ["ai:tools", "ai:tools-stream"])
def test_ai_sdk_tool_calls(node: str, server: Server, scenario: str) -> None:
    r = run(node, server, scenario)
    assert r.get("errors", []) == []
    assert r["finish"] == "tool-calls"
    assert r["content"] == ""
    (call,) = r["calls"]
    assert call["name"] == "get_weather" and _is_call_id(call["id"])
    assert isinstance(call["input"]["city"], str)


def test_ai_sdk_structured_output(node: str, server: Server) -> None:
    r = run(node, server, "ai:json-schema")
    assert isinstance(r["object"]["answer"], str) and isinstance(r["object"]["sure"], bool)
    assert r["finish"] == "stop"


def test_ai_sdk_embeddings(node: str, server: Server) -> None:
    r = run(node, server, "ai:embeddings")
    first, second = r["dims"]
    assert first == second > 0
    assert r["usage"]["tokens"] > 0


def test_ai_sdk_raises_its_typed_error(node: str, server: Server) -> None:
    r = run(node, server, "ai:error")
    assert r["typed"] and r["name"] == "APICallError" and r["status"] == 404
    assert "no-such-model" in r["message"]


def test_the_client_versions_are_pinned() -> None:
    manifest = json.loads((JS / "package.json").read_text())
    lock = json.loads((JS / "package-lock.json").read_text())
    for name, version in manifest["dependencies"].items():
        assert version[0].isdigit(), f"{name} {version} is not an exact version"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
