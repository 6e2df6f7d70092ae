"""An upstream's streamed reply read back into autan's own shape.

Whatever the upstream's dialect, the client gets exactly what the local engine sends: a role
chunk per choice first, content deltas, each tool call whole in one chunk with a 9-character
id, every chunk with a ``finish_reason`` key, usage on the very last one, then ``[DONE]``. A
stream that dies after its first chunk ends with a final chunk (``finish_reason`` ``error``,
the usage of what was sent) and a ``StreamBroken`` error; never a hang.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from autan.backends.dialect import finish_reason
from autan.chat.admission import Admission
from autan.chat.completion import completion_response
from autan.chat.tools import new_call_id
from autan.errors import StreamBroken, UpstreamError
from autan.observability.request_context import current_request
from autan.protocol.chat import (
    ChatCompletionResponse,
    CompletionChunk,
    CompletionResponseStreamChoice,
    DeltaMessage,
    ToolCallPublic,
    UsageInfo,
)

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Timeouts:
    first_token: float
    token: float
    deadline: float  # loop.time() by which the whole reply must be in


async def upstream_events(
    response: aiohttp.ClientResponse, deployment: str, timeouts: Timeouts
) -> AsyncIterator[Event]:
    """The JSON objects of an upstream's server-sent events, up to ``[DONE]``. The first must
    come within ``first_token`` seconds, each next within ``token`` seconds, all before the
    deadline; an error event, a broken connection or a timeout raises ``UpstreamError``."""
    content = response.content
    loop = asyncio.get_running_loop()
    wait = timeouts.first_token
    try:
        while True:
            try:
                async with asyncio.timeout_at(min(loop.time() + wait, timeouts.deadline)):
                    raw = await content.readline()
            except TimeoutError:
                raise UpstreamError(
                    deployment, f"no token within {wait:g} s", timed_out=True
                ) from None
            if not raw:
                return  # the body ended
            if not raw.startswith(b"data:"):
                continue
            data = raw[5:].strip().decode("utf-8", "replace")
            if data == "[DONE]":
                # Read the body to its end: a connection read whole goes back to the pool,
                # one closed early costs the next request a new connection.
                async with asyncio.timeout_at(min(loop.time() + wait, timeouts.deadline)):
                    await content.read()
                return
            try:
                event = json.loads(data)
            except ValueError:
                what = f"sent an event that is not JSON: {data[:200]}"
                raise UpstreamError(deployment, what) from None
            if not isinstance(event, dict):
                raise UpstreamError(deployment, "sent an event that is not a JSON object")
            if "error" in event or event.get("object") == "error":
                inner = event.get("error", event)
                message = inner.get("message") if isinstance(inner, dict) else inner
                raise UpstreamError(deployment, f"error event: {message}")
            wait = timeouts.token
            yield event
    except (aiohttp.ClientError, OSError) as e:
        raise UpstreamError(deployment, f"the connection broke: {e!r}") from e


@dataclass(slots=True)
class _Choice:
    index: int
    content: str = ""
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)  # by upstream index
    pieces: int = 0  # content deltas seen: the token count when the upstream gives none
    finish_reason: str | None = None

    def public_calls(self) -> list[ToolCallPublic]:
        return [
            ToolCallPublic(
                id=new_call_id(),
                function={"name": call["name"], "arguments": call["arguments"]},
                index=i,
            )
            for i, call in enumerate(self.calls.values())
        ]


class UpstreamReply:
    """One routed completion: the upstream's events (some already read, to know it started)
    turned into autan's chunks or response. ``close`` runs once when it ends, however it ends:
    the upstream connection is closed then (a client that leaves frees the upstream's slot)."""

    def __init__(
        self,
        *,
        model: str,
        deployment: str,
        choices: int,
        read: list[Event],
        rest: AsyncIterator[Event] | None,
        prompt_estimate: int,
        admission: Admission | None,
        close: Callable[[], Any],
        prefix: str = "",
    ) -> None:
        self.model = model
        self.deployment = deployment
        self.id = uuid.uuid4().hex
        self.created = int(time.time())
        self._choices = [_Choice(i) for i in range(choices)]
        self._rest = rest
        self._usage: UsageInfo | None = None
        self._context = current_request()
        # Content already folded in from events read ahead, not yet sent: (choice, text).
        self._replay: list[tuple[int, str]] = [d for event in read for d in self._take(event)]
        self._prompt_estimate = prompt_estimate
        self._admission = admission
        self._closer = [close]
        self._prefix = prefix
        # A reply dropped unread still closes its connection and frees its slot.
        weakref.finalize(self, _call_once, self._closer).atexit = False

    @property
    def choices(self) -> list[_Choice]:
        return self._choices

    async def read_all(self) -> None:
        """Read the rest of the upstream's events now (to check the whole reply first)."""
        if self._rest is not None:
            rest, self._rest = self._rest, None
            async for event in rest:
                self._replay.extend(self._take(event))

    async def abandon(self) -> None:
        """Drop the reply unsent (it broke a guarantee, or its upstream failed before the
        client saw any of it): nothing is charged, and the connection closes."""
        self._rest = None
        try:
            if self._admission is not None:
                admission, self._admission = self._admission, None
                await admission.settle(
                    UsageInfo(prompt_tokens=0, completion_tokens=0, total_tokens=0)
                )
        finally:  # closed even if the wait for the settlement is cancelled
            _call_once(self._closer)

    async def _deltas(self) -> AsyncIterator[tuple[int, str]]:
        """Each piece of content, by choice: those read ahead, then the rest as it comes."""
        replay, self._replay = self._replay, []
        for delta in replay:
            yield delta
        if self._rest is not None:
            async for event in self._rest:
                for delta in self._take(event):
                    yield delta

    def _take(self, event: Event) -> list[tuple[int, str]]:
        """Fold one upstream event in; return the content deltas it adds, by choice."""
        usage = event.get("usage")
        if isinstance(usage, dict) and usage.get("prompt_tokens") is not None:
            prompt = int(usage.get("prompt_tokens") or 0)
            completion = int(usage.get("completion_tokens") or 0)
            self._usage = UsageInfo(
                prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
            )
        out: list[tuple[int, str]] = []
        for raw in event.get("choices") or []:
            index = int(raw.get("index") or 0)
            if not 0 <= index < len(self._choices):
                continue
            choice = self._choices[index]
            delta = raw.get("delta") or raw.get("message") or {}
            text = _text(delta.get("content")) if "text" not in raw else _text(raw["text"])
            if text:
                if self._context is not None and not choice.content:
                    self._context.mark_first_token()
                choice.content += text
                choice.pieces += 1
                out.append((index, text))
            for position, call in enumerate(delta.get("tool_calls") or []):
                _fold_call(choice, call, position)
            if raw.get("finish_reason") is not None:
                choice.finish_reason = finish_reason(raw["finish_reason"])
        return out

    def usage(self) -> UsageInfo:
        if self._usage is not None:
            return self._usage
        completion = sum(c.pieces for c in self._choices)
        prompt = self._prompt_estimate
        return UsageInfo(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )

    async def _end(self) -> None:
        try:
            if self._admission is not None:
                admission, self._admission = self._admission, None
                await admission.settle(self.usage())
        finally:  # closed even if the wait for the settlement is cancelled
            _call_once(self._closer)

    async def response(self) -> ChatCompletionResponse:
        try:
            async for _ in self._deltas():
                pass
            unfinished = [c.index for c in self._choices if c.finish_reason is None]
            if unfinished:
                raise UpstreamError(self.deployment, "the reply ended before it finished")
        finally:
            await self._end()
        return completion_response(
            self.id,
            self.created,
            self.model,
            self.usage(),
            [(self._prefix + c.content, c.public_calls(), _final_reason(c)) for c in self._choices],
        )

    def _chunk(
        self, index: int, delta: DeltaMessage, finish: str | None, usage: UsageInfo | None = None
    ) -> CompletionChunk:
        return CompletionChunk(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[
                CompletionResponseStreamChoice(
                    index=index,
                    delta=delta,
                    finish_reason=finish,
                )
            ],
            usage=usage,
        )

    async def chunks(self) -> AsyncIterator[CompletionChunk]:
        broken: UpstreamError | None = None
        try:
            for c in self._choices:
                yield self._chunk(c.index, DeltaMessage(role="assistant", content=""), None)
            prefix_sent = [not self._prefix] * len(self._choices)
            try:
                async for index, text in self._deltas():
                    if not prefix_sent[index]:
                        text, prefix_sent[index] = self._prefix + text, True
                    yield self._chunk(index, DeltaMessage(content=text), None)
            except UpstreamError as e:
                broken = e
            last = len(self._choices) - 1
            if broken is None and any(c.finish_reason is None for c in self._choices):
                broken = UpstreamError(self.deployment, "the stream ended before it finished")
            if broken is not None:
                for c in self._choices:
                    if c.finish_reason is None:
                        c.finish_reason = "error"
            usage = self.usage()
            if self._admission is not None:  # on record before the client reads the last chunk
                admission, self._admission = self._admission, None
                await admission.settle(usage)
            for c in self._choices:
                calls = c.public_calls() or None
                yield self._chunk(
                    c.index,
                    DeltaMessage(content="", tool_calls=calls),
                    _final_reason(c),
                    usage if c.index == last else None,
                )
        finally:
            await self._end()
        if broken is not None:
            raise StreamBroken(broken.message)


def _final_reason(choice: _Choice) -> str:
    reason = choice.finish_reason or "error"
    return "tool_calls" if choice.calls and reason == "stop" else reason


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # Mistral's content chunks
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def _fold_call(choice: _Choice, call: Any, position: int) -> None:
    """OpenAI streams a call's arguments in pieces under one ``index``; Mistral sends each call
    whole, its arguments a string or an object."""
    if not isinstance(call, dict):
        return
    function = call.get("function") or {}
    key = call.get("index")
    if key is None:  # whole calls without an index: each one a new call
        key = len(choice.calls) + position
    entry = choice.calls.setdefault(int(key), {"name": "", "arguments": ""})
    if function.get("name"):
        entry["name"] = function["name"]
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        entry["arguments"] += arguments
    elif arguments is not None:
        entry["arguments"] += json.dumps(arguments)


def _call_once(holder: list[Callable[[], Any]]) -> None:
    while holder:
        result = holder.pop()()
        if asyncio.iscoroutine(result):
            try:
                asyncio.get_running_loop().create_task(result)
            except RuntimeError:  # no loop left (interpreter exit): nothing to close
                result.close()
