"""A completion's reply, whole or streamed, from scripted engine outputs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest

from autan.chat.completion import Choice, Completion
from autan.chat.json_tools import JsonToolParser
from autan.chat.mistral_prompt import MistralReplyParser
from autan.chat.tool_format import ToolCallParser
from autan.inference.engine import ChoiceOutput
from autan.inference.sequence import SequenceOutput

CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'

# A reply cut by max_tokens while writing its second call, in each format's syntax, as the
# engine streams it: the pieces, then the parser that reads it.
CUT_REPLIES: dict[str, tuple[list[str], Callable[[], ToolCallParser]]] = {
    "json": ([CALL, "\n<tool_call>", '\n{"name":'], JsonToolParser),
    "mistral list": (
        [" [TOOL_CALLS]", ' [{"name": "get_weather", "arguments": {"city": "Par'],
        lambda: MistralReplyParser(strip_space=True, calls=True),
    ),
    "mistral named": (
        ['[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', "[TOOL_CALLS]get_weather[ARGS]{"],
        lambda: MistralReplyParser(strip_space=False, calls=True, named=True),
    ),
}


async def _outputs(pieces: list[str], finish_reason: str) -> AsyncIterator[ChoiceOutput]:
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        yield 0, SequenceOutput(piece, i + 1, finish_reason if last else None)


def _completion(pieces: list[str], parser: ToolCallParser, finish_reason: str) -> Completion:
    return Completion("m", 3, _outputs(pieces, finish_reason), [Choice(0, parser)])


@pytest.mark.parametrize("syntax", list(CUT_REPLIES))
def test_a_call_cut_by_max_tokens_is_dropped_not_leaked(syntax: str) -> None:
    pieces, parser = CUT_REPLIES[syntax]
    reply = asyncio.run(_completion(pieces, parser(), "length").response())
    (choice,) = reply.choices
    assert choice.finish_reason == "length"
    assert choice.message.content == ""
    calls = choice.message.tool_calls or []
    named = [(c.function["name"], json.loads(c.function["arguments"])) for c in calls]
    complete = [("get_weather", {"city": "Paris"})] if syntax != "mistral list" else []
    assert named == complete


@pytest.mark.parametrize("syntax", list(CUT_REPLIES))
def test_a_streamed_call_cut_by_max_tokens_is_dropped_not_leaked(syntax: str) -> None:
    pieces, parser = CUT_REPLIES[syntax]

    async def chunks() -> list[dict[str, object]]:
        stream = _completion(pieces, parser(), "length").chunks()
        return [c.model_dump(mode="json") async for c in stream]

    events = asyncio.run(chunks())
    deltas = [e["choices"][0]["delta"] for e in events]  # type: ignore[index]
    assert "".join(d.get("content", "") for d in deltas) == ""
    calls = [c for d in deltas for c in d.get("tool_calls", [])]
    assert len(calls) == (0 if syntax == "mistral list" else 1)
    assert events[-1]["choices"][0]["finish_reason"] == "length"  # type: ignore[index]
