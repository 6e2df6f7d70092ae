"""The loop of ``autan chat``: read a line, stream the reply, render it; Ctrl-C stops a reply
and keeps the session, Ctrl-D or /bye ends it."""

from __future__ import annotations

import asyncio
import json
import math
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from autan.cli.chat_client import ChatClient, ChatClientError, ModelChoice
from autan.cli.chat_commands import Outcome, SlashCommands, tool_call_line
from autan.cli.chat_session import ChatSession

# What makes a reply worth rendering again as Markdown once it ends.
_MARKDOWN = re.compile(r"```|^#{1,6} |\*\*|^\s*[-*] |^\s*\d+\. |`[^`]+`|^\|.*\|$", re.MULTILINE)
_FENCE = '"""'


@dataclass
class ReplyFigures:
    """What ``--verbose`` prints after each reply."""

    started: float
    first_token: float | None = None
    ended: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    chunks: int = 0

    def line(self) -> str:
        ended = self.ended or time.monotonic()
        tokens = self.completion_tokens if self.completion_tokens is not None else self.chunks
        parts = []
        if self.prompt_tokens is not None:
            parts.append(f"prompt {self.prompt_tokens} tokens")
        parts.append(f"reply {tokens} tokens")
        if self.first_token is not None:
            parts.append(f"first token {self.first_token - self.started:.2f} s")
            generating = ended - self.first_token
            if tokens > 1 and generating > 0:
                parts.append(f"{(tokens - 1) / generating:.1f} tokens/s")
        parts.append(f"total {ended - self.started:.2f} s")
        return ", ".join(parts)


class LineReader:
    """Lines typed by the user: prompt_toolkit's editor (history, Up key, Alt-Enter for a new
    line) on a terminal, plain reads from a pipe."""

    def __init__(self, history_file: Path | None) -> None:
        self._session: Any = None
        if sys.stdin.isatty() and sys.stdout.isatty():
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory, History, InMemoryHistory
            from prompt_toolkit.key_binding import KeyBindings

            bindings = KeyBindings()

            @bindings.add("escape", "enter")
            def _new_line(event: Any) -> None:
                event.current_buffer.insert_text("\n")

            @bindings.add("enter")
            def _send(event: Any) -> None:
                buffer = event.current_buffer
                text = buffer.text.strip()
                if text.startswith(_FENCE) and not (len(text) >= 6 and text.endswith(_FENCE)):
                    buffer.insert_text("\n")
                else:
                    buffer.validate_and_handle()

            history: History = (
                FileHistory(str(history_file)) if history_file is not None else InMemoryHistory()
            )
            self._session = PromptSession(
                history=history,
                key_bindings=bindings,
                multiline=True,
                prompt_continuation="... ",
            )

    async def read(self, prompt: str) -> str:
        """The next line, its \"\"\" fences removed; EOFError on Ctrl-D, KeyboardInterrupt on
        Ctrl-C."""
        if self._session is not None:
            text: str = await self._session.prompt_async(prompt)
        else:
            sys.stdout.write(prompt)
            sys.stdout.flush()
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                raise EOFError
            text = line.rstrip("\n")
            if text.strip().startswith(_FENCE):
                while not (len(text.strip()) >= 6 and text.strip().endswith(_FENCE)):
                    more = await asyncio.to_thread(sys.stdin.readline)
                    if not more:
                        break
                    text += "\n" + more.rstrip("\n")
        stripped = text.strip()
        if stripped.startswith(_FENCE):
            stripped = stripped[3:]
            if stripped.endswith(_FENCE):
                stripped = stripped[:-3]
            return stripped.strip()
        return text


class ChatRepl:
    def __init__(
        self,
        client: ChatClient,
        session: ChatSession,
        choices: list[ModelChoice],
        *,
        console: Console,
        reader: LineReader,
        verbose: bool = False,
        markdown: bool = True,
    ) -> None:
        self._client = client
        self._session = session
        self._console = console
        self._reader = reader
        self._verbose = verbose
        self._markdown = markdown and console.is_terminal
        self._commands = SlashCommands(session, choices, console)

    async def run(self) -> None:
        while True:
            pending = self._session.pending_tool_calls()
            try:
                if pending:
                    if not await self._read_tool_results(pending):
                        continue
                else:
                    line = await self._reader.read(">>> ")
                    if not line.strip():
                        continue
                    if line.lstrip().startswith("/"):
                        if self._commands.handle(line) is Outcome.QUIT:
                            return
                        continue
                    self._session.messages.append({"role": "user", "content": line})
            except KeyboardInterrupt:
                self._console.print("(Ctrl-D or /bye quits)", style="dim")
                continue
            except EOFError:
                return
            await self._reply()

    async def _read_tool_results(self, calls: list[dict[str, Any]]) -> bool:
        """One result per pending tool call, typed by the user; False when they drop them."""
        self._console.print(
            "type each call's result (empty: drop the calls and go on)", style="dim"
        )
        results = []
        for call in calls:
            name = (call.get("function") or {}).get("name", "tool")
            result = await self._reader.read(f"{name} result> ")
            if not result.strip():
                self._session.messages.pop()  # the reply that made the calls
                return False
            results.append(
                {"role": "tool", "name": name, "tool_call_id": call.get("id"), "content": result}
            )
        self._session.messages.extend(results)
        return True

    async def _reply(self) -> None:
        """Stream one reply; Ctrl-C (SIGINT while the terminal is not in raw mode) stops it."""
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(self._stream())
        interruptible = True
        try:
            loop.add_signal_handler(signal.SIGINT, task.cancel)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            interruptible = False
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            self._console.print("\n(stopped)", style="dim")
        finally:
            if interruptible:
                loop.remove_signal_handler(signal.SIGINT)

    async def _stream(self) -> None:
        figures = ReplyFigures(started=time.monotonic())
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        try:
            try:
                async for chunk in self._client.stream(self._session.request()):
                    usage = chunk.get("usage")
                    if usage:
                        figures.prompt_tokens = usage.get("prompt_tokens")
                        figures.completion_tokens = usage.get("completion_tokens")
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        content = delta.get("content")
                        if isinstance(content, list):  # Mistral's typed chunks
                            content = "".join(c.get("text", "") for c in content)
                        if content:
                            if figures.first_token is None:
                                figures.first_token = time.monotonic()
                            figures.chunks += 1
                            text.append(content)
                            self._write(content)
                        for call in delta.get("tool_calls") or []:
                            if figures.first_token is None:
                                figures.first_token = time.monotonic()
                            self._add_call(calls, call)
            except ChatClientError as e:
                self._keep([], {})  # forgets the message that was not answered
                self._console.print(f"error: {e}", style="red", markup=False, highlight=False)
                return
        except asyncio.CancelledError:
            self._keep(text, calls)
            raise
        figures.ended = time.monotonic()
        self._end(text, calls)
        self._keep(text, calls)
        if self._verbose:
            self._console.print(figures.line(), style="dim")

    def _write(self, content: str) -> None:
        self._console.file.write(content)
        self._console.file.flush()

    @staticmethod
    def _add_call(calls: dict[int, dict[str, Any]], call: dict[str, Any]) -> None:
        """Tool calls arrive whole (autan) or in pieces keyed by index (other servers)."""
        index = call.get("index", len(calls))
        function = call.get("function") or {}
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        known = calls.get(index)
        if known is None:
            calls[index] = {
                "id": call.get("id"),
                "type": "function",
                "function": {"name": function.get("name", ""), "arguments": arguments},
            }
        else:
            known["function"]["arguments"] += arguments
            known["id"] = known["id"] or call.get("id")

    def _end(self, text: list[str], calls: dict[int, dict[str, Any]]) -> None:
        reply = "".join(text)
        if reply and self._markdown and _MARKDOWN.search(reply) and self._erase(reply):
            self._console.print(Markdown(reply))
        elif reply:
            self._write("\n")
        for call in calls.values():
            self._console.print(tool_call_line(call), style="cyan", markup=False, highlight=False)

    def _erase(self, reply: str) -> bool:
        """Move back over the streamed reply and clear it, to print it again rendered; False
        when it no longer fits on the screen (it stays as streamed)."""
        width = self._console.width
        rows = sum(max(1, math.ceil(Text(line).cell_len / width)) for line in reply.split("\n"))
        if rows >= self._console.height:
            return False
        up = f"\x1b[{rows - 1}A" if rows > 1 else ""
        self._write(f"\r{up}\x1b[J")
        return True

    def _keep(self, text: list[str], calls: dict[int, dict[str, Any]]) -> None:
        """The reply joins the conversation, whole or as far as it came before Ctrl-C."""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
        if calls:
            message["tool_calls"] = list(calls.values())
        if message["content"] or calls:
            self._session.messages.append(message)
        elif self._session.messages and self._session.messages[-1]["role"] in ("user", "tool"):
            # nothing came back: forget the question so the next one is not sent after it
            while self._session.messages and self._session.messages[-1]["role"] == "tool":
                self._session.messages.pop()
            if self._session.messages and self._session.messages[-1]["role"] == "user":
                self._session.messages.pop()
