"""The slash commands of ``autan chat`` on a session, without a model."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from autan.cli.chat_client import ModelChoice
from autan.cli.chat_commands import Outcome, SlashCommands
from autan.cli.chat_session import DEFAULT_MAX_TOKENS, ChatSession

CHOICES = [ModelChoice("a", ("alias-a",)), ModelChoice("b"), ModelChoice("embed", chat=False)]


def _commands() -> tuple[SlashCommands, ChatSession, io.StringIO]:
    out = io.StringIO()
    session = ChatSession(model="a")
    return SlashCommands(session, CHOICES, Console(file=out, width=200)), session, out


def test_settings_change_the_request() -> None:
    commands, session, out = _commands()
    assert session.request() == {"model": "a", "messages": [], "max_tokens": DEFAULT_MAX_TOKENS}
    for line in ("/model alias-a", "/system Be brief.", "/temperature 0.2", "/max-tokens 50",
                 "/json"):  # fmt: skip
        assert commands.handle(line) is Outcome.HANDLED
    session.messages.append({"role": "user", "content": "hi"})
    assert session.request() == {
        "model": "alias-a",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ],
        "max_tokens": 50,
        "temperature": 0.2,
        "response_format": {"type": "json_object"},
    }
    for wrong in ("/model embed", "/temperature hot", "/temperature 3", "/max-tokens 0", "/nope"):
        commands.handle(wrong)
    said = out.getvalue()
    assert "no model 'embed'; choose from: a (alias-a), b" in said
    assert "'hot' is not a temperature" in said and "'3' is not a temperature" in said
    assert "'0' is not a number of tokens" in said and "unknown command /nope" in said
    assert (session.model, session.temperature, session.max_tokens) == ("alias-a", 0.2, 50)
    assert commands.handle("/bye") is Outcome.QUIT and commands.handle("/exit") is Outcome.QUIT


def test_save_load_clear(tmp_path: Path) -> None:
    commands, session, out = _commands()
    commands.handle("/system Be brief.")
    session.messages += [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    saved = tmp_path / "chat.json"
    commands.handle(f"/save {saved}")
    commands.handle("/clear")
    assert session.messages == []
    commands.handle(f"/load {saved}")
    assert [m["content"] for m in session.messages] == ["hi", "yo"]
    assert session.system == "Be brief."
    (tmp_path / "bad.json").write_text("[1, 2]")
    commands.handle(f"/load {tmp_path / 'bad.json'}")
    commands.handle(f"/load {tmp_path / 'absent.json'}")
    said = out.getvalue()
    assert "saved 2 messages" in said and "loaded 2 messages; model a" in said
    assert "is not a saved chat" in said and "cannot read" in said


def test_tools_from_a_file(tmp_path: Path) -> None:
    commands, session, out = _commands()
    tools = tmp_path / "tools.json"
    weather = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    tools.write_text(json.dumps([weather]))
    commands.handle(f"/tools {tools}")
    assert session.request()["tools"] == [{"type": "function", "function": weather}]
    assert "tools: get_weather" in out.getvalue()
    session.messages.append(
        {"role": "assistant", "content": "", "tool_calls": [{"id": "abcdefghi", "function": {}}]}
    )
    assert session.pending_tool_calls()[0]["id"] == "abcdefghi"
    commands.handle("/tools off")
    assert "tools" not in session.request()
