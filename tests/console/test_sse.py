"""The console's server-sent-events reader (js/sse.js), run by Node on bodies cut into
arbitrary pieces. Without node it is skipped, or fails with ``CI=true``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from autan.console.console_files import STATIC_DIR

# Reads the chunks given as JSON in argv[1] through sseData; prints the data and the error.
_SCRIPT = """
const { sseData } = await import(process.argv[1]);
const chunks = JSON.parse(process.argv[2]);
const body = new ReadableStream({
  start(controller) {
    for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
    controller.close();
  },
});
const out = { data: [], error: null };
try {
  for await (const data of sseData(new Response(body))) out.data.push(data);
} catch (error) {
  out.error = `${error.constructor.name}: ${error.message}`;
}
console.log(JSON.stringify(out));
"""


def _read(chunks: list[str]) -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed; CI must provide it")
        pytest.skip("node is not installed: the console's SSE reader is tested with it")
    module = (STATIC_DIR / "js" / "sse.js").as_uri()
    out = subprocess.run(
        [node, "--input-type=module", "-e", _SCRIPT, module, json.dumps(chunks)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


STREAM = 'data: {"a": 1}\n\ndata: {"b": "x\\ny"}\n\n: comment\n\ndata: [DONE]\n\ndata: late\n\n'


@pytest.mark.parametrize("size", [1, 3, 7, len(STREAM)])
def test_events_are_read_whole_however_the_body_is_cut(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert _read(chunks) == {"data": ['{"a": 1}', '{"b": "x\\ny"}'], "error": None}


@pytest.mark.parametrize("size", [1, 2, 100])
def test_crlf_line_ends_and_multi_line_data(size: int) -> None:
    stream = "data: one\r\ndata: two\r\n\r\ndata: three\r\r"
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
    assert _read(chunks) == {"data": ["one\ntwo", "three"], "error": None}


def test_an_error_event_is_thrown_with_its_message() -> None:
    error = json.dumps({"object": "error", "message": "The engine failed", "type": "x"})
    result = _read([f"data: {{}}\n\nevent: error\ndata: {error}\n\n"])
    assert result == {"data": ["{}"], "error": "StreamError: The engine failed"}
