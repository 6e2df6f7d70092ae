"""``autan chat`` driven in a pseudo-terminal, as a user types, against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from autan.models.packaged import CODE_MODEL, CODE_MODEL_NAME
from tests.server import ROOT, Server, start_server, stop_server

pytestmark = pytest.mark.model

PROMPT = ">>>"


def _spawn(*args: str, env: dict[str, str] | None = None) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "autan.cli.main", "chat", *args],
        cwd=str(ROOT),
        env={**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", **(env or {})},
        encoding="utf-8",
        timeout=90,
        dimensions=(40, 120),
    )
    child.expect(PROMPT)
    return child


def _quit(child: pexpect.spawn) -> None:
    child.sendline("/bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_c_stops_the_reply_up_recalls_and_model_switches(
    server: Server, tmp_path: Path
) -> None:
    child = _spawn("--url", server.url, "--verbose", "--max-tokens", "400")
    assert "autan chat" in child.before and "smollm2-135m-instruct" in child.before
    assert "/help" in child.before and "Ctrl-D or /bye" in child.before

    child.sendline("Write a very long story about a cat who travels the world.")
    child.expect_exact("\x1b[?2004l")  # the line editor lets go of the terminal
    child.expect(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+")  # the reply has begun
    child.sendintr()
    child.expect(r"\(stopped\)")
    child.expect(PROMPT)  # the session goes on, with the partial reply in its history

    child.sendline("/model")
    child.expect("available: smollm2-135m-instruct")
    child.expect(PROMPT)
    child.sendline("/model no-such-model")
    child.expect("no model 'no-such-model'; choose from: smollm2-135m-instruct")
    child.expect(PROMPT)
    child.sendline("/model mistral-small-latest")
    child.expect("now chatting with mistral-small-latest")
    child.expect(PROMPT)

    child.sendline("/max-tokens 8")
    child.expect(PROMPT)
    child.sendline("Say hello.")
    child.expect(r"reply (\d+) tokens, first token [\d.]+ s")
    assert int(child.match.group(1)) <= 8
    child.expect(PROMPT)

    child.send("\x1b[A")  # Up: the last line comes back to be sent again
    child.expect("Say hello.")
    child.sendline("")
    child.expect(r"reply \d+ tokens")
    child.expect(PROMPT)

    # a message over several lines: between """ fences, or with Alt-Enter
    child.sendline('"""First line')
    child.sendline('second line"""')
    child.expect(r"reply \d+ tokens")
    child.expect(PROMPT)
    child.send("third\x1b\rfourth\r")
    child.expect(r"reply \d+ tokens")
    child.expect(PROMPT)
    saved = tmp_path / "chat.json"
    child.sendline(f"/save {saved}")
    child.expect(r"saved \d+ messages")
    child.expect(PROMPT)
    _quit(child)
    users = [m["content"] for m in json.loads(saved.read_text())["messages"] if m["role"] == "user"]
    # the partial reply to the story was kept; the two-line messages arrived whole
    assert users == [
        "Write a very long story about a cat who travels the world.",
        "Say hello.",
        "Say hello.",
        "First line\nsecond line",
        "third\nfourth",
    ]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    data_dir = tmp_path_factory.mktemp("chat-auth")
    args = ("--data-dir", str(data_dir), "--parallel", "2", "--ctx-size", "1024")
    proc, srv = start_server(*args, auth=True)
    try:
        yield srv, data_dir
    finally:
        stop_server(proc)


def _autan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autan.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_a_401_answers_that_message_and_the_session_goes_on(
    auth_server: tuple[Server, Path],
) -> None:
    server, data_dir = auth_server
    created = _autan("keys", "create", "--name", "chat", "--data-dir", str(data_dir))
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.split("key id")[1].split()[0]
    secret = created.stdout.split("secret")[1].split()[0]

    child = _spawn(
        "--url", server.url, "--data-dir", str(data_dir), env={"MISTRAL_API_KEY": secret}
    )
    revoked = _autan("keys", "revoke", key_id, "--data-dir", str(data_dir))
    assert revoked.returncode == 0, revoked.stderr
    child.sendline("Hello?")
    child.expect("error: 401: ")
    child.expect(PROMPT)
    child.sendline("/system Answer in French.")
    child.expect("system prompt set")
    child.expect(PROMPT)
    _quit(child)


def test_the_admin_key_of_the_data_dir_is_used_without_a_key(
    auth_server: tuple[Server, Path],
) -> None:
    server, data_dir = auth_server
    env = {k: v for k, v in os.environ.items() if k != "MISTRAL_API_KEY"}
    out = subprocess.run(
        [sys.executable, "-m", "autan.cli.main", "chat", "--url", server.url,
         "--data-dir", str(data_dir), "--max-tokens", "5"],
        input="Hi\n/bye\n", capture_output=True, text=True, cwd=ROOT, timeout=90, env=env,
        check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "error" not in out.stdout and out.stdout.count(PROMPT) == 2


def test_a_wrong_key_or_model_stops_before_the_first_prompt(
    auth_server: tuple[Server, Path],
) -> None:
    server, data_dir = auth_server
    bad_key = _autan("chat", "--url", server.url, "--api-key", "nope", "--data-dir", str(data_dir))
    assert bad_key.returncode == 1
    assert bad_key.stderr.startswith("error: 401: ") and "MISTRAL_API_KEY" in bad_key.stderr
    bad_model = _autan("chat", "gpt-4", "--url", server.url, "--data-dir", str(data_dir))
    assert bad_model.returncode == 1
    choices = "smollm2-135m-instruct (mistral-small-latest, mistral-large-latest, open-mistral-7b)"
    if CODE_MODEL.installed():
        choices += f", {CODE_MODEL_NAME} (codestral-latest)"
    assert bad_model.stderr.strip() == f"error: no chat model 'gpt-4'; choose from: {choices}"
    nobody = _autan("chat", "--url", "http://127.0.0.1:9")
    assert nobody.returncode == 1 and "Is `autan serve` running?" in nobody.stderr


def test_in_process_ctrl_c_stops_the_reply_and_the_session_goes_on() -> None:
    child = _spawn("--threads", "2", "--max-tokens", "400")
    assert "in this process" in child.before
    child.sendline("Write a very long story about a dog.")
    child.expect_exact("\x1b[?2004l")
    child.expect(r"[A-Za-z]+ [A-Za-z]+ [A-Za-z]+")
    child.sendintr()
    child.expect(r"\(stopped\)")
    child.expect(PROMPT)
    child.sendline("/max-tokens 3")
    child.expect("max tokens: 3")
    child.expect(PROMPT)
    child.sendline("Hi")
    child.expect(PROMPT)
    _quit(child)
