"""The playground's "View code" (js/request_code.js), run by Node: the Python it writes parses
and calls the SDK with exactly the request's body, and the curl command's shell words carry
that body byte for byte, whatever the body holds (quotes, newlines, non-ASCII, null, booleans).
Without node it is skipped, or fails with ``CI=true``."""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import subprocess
from typing import Any

import pytest

from autan.console.console_files import STATIC_DIR

_SCRIPT = """
const code = await import(process.argv[1]);
const [origin, path, body] = JSON.parse(process.argv[2]);
console.log(JSON.stringify({
  mistralai: code.mistralaiCode(origin, path, body),
  openai: code.openaiCode(origin, path, body),
  curl: code.curlCode(origin, path, body),
}));
"""
ORIGIN = "http://127.0.0.1:8000"
BODY: dict[str, Any] = {
    "model": "mistral-small-latest",
    "messages": [
        {"role": "system", "content": "Say 'hi' and \"bye\"\nthen \\ stop; $HOME `x`"},
        {"role": "user", "content": "Héllo 🌍 </script>"},
    ],
    "temperature": 0.5,
    "max_tokens": 64,
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "empty": {}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
            },
        }
    ],
    "tool_choice": "any",
    "response_format": None,
    "stream": True,
}


def _code(path: str, body: dict[str, Any]) -> dict[str, str]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed; CI must provide it")
        pytest.skip("node is not installed: the playground's code view is tested with it")
    module = (STATIC_DIR / "js" / "request_code.js").as_uri()
    out = subprocess.run(
        [node, "--input-type=module", "-e", _SCRIPT, module, json.dumps([ORIGIN, path, body])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, str] = json.loads(out.stdout)
    return result


def _call(source: str) -> tuple[str, dict[str, Any]]:
    """The SDK method the code calls (``client.chat.stream``) and its keyword arguments."""
    tree = ast.parse(source)
    (call,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.targets[0]) == "response"
    ]
    kwargs = {k.arg: _value(k.value) for k in call.keywords if k.arg}
    return ast.unparse(call.func), kwargs


def _value(node: ast.expr) -> Any:
    """A literal's value; a name (``cast_to=object``) as its source."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def test_the_python_code_calls_the_sdks_with_exactly_the_body() -> None:
    code = _code("/v1/chat/completions", BODY)
    method, kwargs = _call(code["mistralai"])
    assert method == "client.chat.stream"
    assert kwargs == {k: v for k, v in BODY.items() if k != "stream"}
    assert f'server_url="{ORIGIN}"' in code["mistralai"]
    method, kwargs = _call(code["openai"])
    assert method == "client.chat.completions.create"
    assert kwargs == BODY
    assert f'base_url="{ORIGIN}/v1"' in code["openai"]
    for source in (code["mistralai"], code["openai"]):
        assert 'os.environ["AUTAN_API_KEY"]' in source


def test_the_curl_command_sends_exactly_the_body() -> None:
    words = shlex.split(_code("/v1/chat/completions", BODY)["curl"])
    assert words[:2] == ["curl", f"{ORIGIN}/v1/chat/completions"]
    assert "Authorization: Bearer $AUTAN_API_KEY" in words
    assert json.loads(words[words.index("-d") + 1]) == BODY


def test_fim_code_uses_the_fim_endpoint() -> None:
    body = {"model": "codestral-latest", "prompt": "def f(", "suffix": "\n", "stream": False}
    code = _code("/v1/fim/completions", body)
    method, kwargs = _call(code["mistralai"])
    assert method == "client.fim.complete" and kwargs == {
        k: v for k, v in body.items() if k != "stream"
    }
    method, kwargs = _call(code["openai"])
    assert method == "client.post" and kwargs["body"] == body and kwargs["cast_to"] == "object"
    words = shlex.split(code["curl"])
    assert words[1] == f"{ORIGIN}/v1/fim/completions"
    assert json.loads(words[words.index("-d") + 1]) == body
