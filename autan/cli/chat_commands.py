"""The slash commands of ``autan chat``: each changes the session, none sends a request."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from pathlib import Path

from rich.console import Console

from autan.cli.chat_client import ModelChoice
from autan.cli.chat_session import ChatSession, load_tools

HELP = """\
/help                  this list
/model [NAME]          show the models, or switch to NAME (the conversation is kept)
/system [TEXT]         show the system prompt, or set it; `/system -` removes it
/temperature [X]       show or set the temperature (0 to 1.5; `-`: the model's default)
/max-tokens [N]        show or set the most tokens a reply may have
/clear                 forget the conversation (the settings stay)
/save FILE             save the conversation and settings to a JSON file
/load FILE             continue a conversation saved with /save
/tools [FILE|off]      load tools from a JSON file; their calls are shown as they come
/json                  JSON mode on or off: every reply is one JSON object
/bye                   quit (or Ctrl-D)

Enter sends; Alt-Enter (or Esc then Enter) starts a new line; a message that begins with
\"\"\" goes on until a line that ends with \"\"\". Ctrl-C stops a reply and keeps the session;
Up and Down recall earlier lines."""


_DEFAULT_TEMPERATURE = "temperature: the model's default"


class Outcome(Enum):
    HANDLED = "handled"
    QUIT = "quit"


def model_names(choices: list[ModelChoice]) -> str:
    return ", ".join(
        c.id + (f" ({', '.join(c.aliases)})" if c.aliases else "") for c in choices if c.chat
    )


class SlashCommands:
    def __init__(self, session: ChatSession, choices: list[ModelChoice], console: Console) -> None:
        self.session = session
        self._choices = choices
        self._console = console
        self._commands: dict[str, Callable[[str], Outcome]] = {
            "/help": self._help,
            "/?": self._help,
            "/model": self._model,
            "/system": self._system,
            "/temperature": self._temperature,
            "/max-tokens": self._max_tokens,
            "/clear": self._clear,
            "/save": self._save,
            "/load": self._load,
            "/tools": self._tools,
            "/json": self._json,
            "/bye": self._bye,
            "/exit": self._bye,
            "/quit": self._bye,
        }

    def handle(self, line: str) -> Outcome:
        name, _, argument = line.strip().partition(" ")
        command = self._commands.get(name.lower())
        if command is None:
            self._say(f"unknown command {name}; /help lists them")
            return Outcome.HANDLED
        return command(argument.strip())

    def _say(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False)

    def _help(self, _: str) -> Outcome:
        self._say(HELP)
        return Outcome.HANDLED

    def _bye(self, _: str) -> Outcome:
        return Outcome.QUIT

    def _model(self, name: str) -> Outcome:
        if not name:
            self._say(f"model: {self.session.model}\navailable: {model_names(self._choices)}")
            return Outcome.HANDLED
        if not any(name in c.names for c in self._choices if c.chat):
            self._say(f"no model {name!r}; choose from: {model_names(self._choices)}")
            return Outcome.HANDLED
        self.session.model = name
        self._say(f"now chatting with {name}")
        return Outcome.HANDLED

    def _system(self, text: str) -> Outcome:
        if not text:
            self._say(f"system prompt: {self.session.system or '(none)'}")
        else:
            self.session.system = None if text == "-" else text
            self._say("system prompt removed" if text == "-" else "system prompt set")
        return Outcome.HANDLED

    def _temperature(self, value: str) -> Outcome:
        if not value:
            shown = self.session.temperature
            self._say(f"temperature: {shown}" if shown is not None else _DEFAULT_TEMPERATURE)
            return Outcome.HANDLED
        if value == "-":
            self.session.temperature = None
            self._say(_DEFAULT_TEMPERATURE)
            return Outcome.HANDLED
        try:
            temperature = float(value)
        except ValueError:
            temperature = -1.0
        if not 0 <= temperature <= 1.5:
            self._say(f"{value!r} is not a temperature: give a number from 0 to 1.5")
            return Outcome.HANDLED
        self.session.temperature = temperature
        self._say(f"temperature: {temperature}")
        return Outcome.HANDLED

    def _max_tokens(self, value: str) -> Outcome:
        if not value:
            self._say(f"max tokens: {self.session.max_tokens}")
            return Outcome.HANDLED
        if not value.isdigit() or int(value) < 1:
            self._say(f"{value!r} is not a number of tokens: give a whole number above 0")
            return Outcome.HANDLED
        self.session.max_tokens = int(value)
        self._say(f"max tokens: {value}")
        return Outcome.HANDLED

    def _clear(self, _: str) -> Outcome:
        self.session.messages.clear()
        self._say("conversation cleared")
        return Outcome.HANDLED

    def _save(self, path: str) -> Outcome:
        if not path:
            self._say("usage: /save FILE")
            return Outcome.HANDLED
        try:
            self.session.save(Path(path).expanduser())
        except OSError as e:
            self._say(f"cannot save to {path}: {e.strerror or e}")
            return Outcome.HANDLED
        self._say(f"saved {len(self.session.messages)} messages to {path}")
        return Outcome.HANDLED

    def _load(self, path: str) -> Outcome:
        if not path:
            self._say("usage: /load FILE")
            return Outcome.HANDLED
        try:
            loaded = ChatSession.load(Path(path).expanduser())
        except OSError as e:
            self._say(f"cannot read {path}: {e.strerror or e}")
            return Outcome.HANDLED
        except ValueError as e:
            self._say(str(e))
            return Outcome.HANDLED
        if not any(loaded.model in c.names for c in self._choices):
            loaded.model = self.session.model  # saved against a model this server lacks
        self.session.__dict__.update(loaded.__dict__)
        self._say(f"loaded {len(loaded.messages)} messages; model {self.session.model}")
        return Outcome.HANDLED

    def _tools(self, path: str) -> Outcome:
        if not path:
            names = [t["function"]["name"] for t in self.session.tools]
            self._say(f"tools: {', '.join(names) if names else '(none)'}")
            return Outcome.HANDLED
        if path == "off":
            self.session.tools = []
            self._say("tools off")
            return Outcome.HANDLED
        try:
            self.session.tools = load_tools(Path(path).expanduser())
        except OSError as e:
            self._say(f"cannot read {path}: {e.strerror or e}")
            return Outcome.HANDLED
        except ValueError as e:
            self._say(str(e))
            return Outcome.HANDLED
        loaded = ", ".join(t["function"]["name"] for t in self.session.tools)
        self._say(f"tools: {loaded}")
        return Outcome.HANDLED

    def _json(self, _: str) -> Outcome:
        self.session.json_mode = not self.session.json_mode
        self._say(f"JSON mode {'on' if self.session.json_mode else 'off'}")
        return Outcome.HANDLED


def tool_call_line(call: dict[str, object]) -> str:
    function = call.get("function") or {}
    assert isinstance(function, dict)
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return f"→ {function.get('name')}({arguments})"
