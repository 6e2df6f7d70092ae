"""A completion under way, and the two shapes its reply takes: one response or a stream.

Chat and FIM replies share this: both are ``chat.completion`` objects on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from autan.chat.admission import Admission
from autan.chat.tool_format import Parsed, ParsedCall, ToolCallParser
from autan.chat.tools import new_call_id
from autan.inference.engine import ChoiceOutput
from autan.inference.sampling import SamplingParams
from autan.inference.sequence import Priority
from autan.models.registry import ModelLease, ModelRegistry, ServedModel
from autan.observability.completion_trace import CompletionTrace
from autan.observability.request_context import (
    add_engine_time,
    current_request,
    is_traced,
    note_queue_time,
)
from autan.observability.tracing import child_span
from autan.protocol.chat import (
    AssistantMessagePublic,
    ChatCompletionChoice,
    ChatCompletionResponse,
    CompletionChunk,
    CompletionResponseStreamChoice,
    DeltaMessage,
    ToolCallPublic,
    UsageInfo,
)


class Lease(Protocol):
    """Something held while a completion runs (its model); released once, when it ends."""

    def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PreparedCompletion:
    """A request made ready for the engine (prompt tokenized, grammar compiled): what is
    queued, one sampling per choice, and how each choice's text is read back."""

    tokens: list[int]
    params: list[SamplingParams]
    parsers: list[ToolCallParser | None]
    max_new_tokens: int  # the most one choice may generate, for the admission
    prefix: str = ""

    @property
    def prompt_tokens(self) -> int:
        return len(self.tokens)


@dataclass(slots=True)
class Choice:
    """One choice being generated: what it said so far, its calls and how it ended."""

    index: int
    parser: ToolCallParser | None
    content: str = ""
    calls: list[ToolCallPublic] = field(default_factory=list)
    completion_tokens: int = 0
    finish_reason: str | None = None

    def take(self, text: str, finish_reason: str | None) -> tuple[str, list[ToolCallPublic]]:
        """Feed generated text, the last piece with the reason the reply ended; return the
        content and the complete calls it released."""
        if self.parser is None:
            parsed = Parsed(content=text)
        else:
            parsed = self.parser.feed(text)
            if finish_reason is not None:
                tail = self.parser.finish(cut=finish_reason != "stop")
                parsed = Parsed(parsed.content + tail.content, parsed.calls + tail.calls)
        calls = [_public_call(call, len(self.calls) + i) for i, call in enumerate(parsed.calls)]
        self.content += parsed.content
        self.calls += calls
        return parsed.content, calls

    def finish(self, reason: str) -> str:
        self.finish_reason = "tool_calls" if self.calls and reason == "stop" else reason
        return self.finish_reason


@dataclass(slots=True)
class Completion:
    """A request turned into engine work: its prompt size, the outputs and one state per choice.

    ``prefix`` is assistant text the reply continues (``prefix: true``): it is echoed in front
    of every choice's content. ``admission``, when set, is settled with the usage when the
    completion ends, finished or cut short.
    """

    model_name: str
    prompt_tokens: int
    outputs: AsyncIterator[ChoiceOutput]
    choices: list[Choice]
    prefix: str = ""
    admission: Admission | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: int = field(default_factory=lambda: int(time.time()))
    trace: CompletionTrace | None = None
    # When the sequences were queued (``time.perf_counter``): the engine's share of the
    # request's time runs from here to the last output.
    queued_at: float = 0.0

    @classmethod
    async def queue(
        cls,
        lease: ModelLease,
        requested: str,
        prepared: PreparedCompletion,
        admission: Admission | None,
        priority: Priority,
        trace: CompletionTrace | None = None,
    ) -> Completion:
        """Admit ``prepared`` (``admission`` may refuse by raising), queue it on the leased
        model's engine, and hold ``lease`` until the outputs end. A completion the engine
        refuses (full, too long) gives back at once what it reserved; the caller still holds
        the lease when this raises."""
        model = lease.model
        n = len(prepared.params)
        if admission is not None:
            with child_span("autan.limits"):
                await admission.admit(
                    model, requested, prepared.prompt_tokens, n * prepared.max_new_tokens
                )
        queued_at = time.perf_counter()
        try:
            outputs = model.engine.generate(prepared.tokens, prepared.params, priority=priority)
        except BaseException:
            if admission is not None:
                await admission.settle(
                    UsageInfo(prompt_tokens=0, completion_tokens=0, total_tokens=0)
                )
            raise
        completion = cls(
            model_name=requested,
            prompt_tokens=prepared.prompt_tokens,
            outputs=outputs,
            choices=[Choice(i, parser) for i, parser in enumerate(prepared.parsers)],
            prefix=prepared.prefix,
            admission=admission,
            trace=trace,
            queued_at=queued_at,
        )
        completion.outputs = completion._observed(completion.outputs)
        completion.hold(lease)
        return completion

    async def _observed(self, outputs: AsyncIterator[ChoiceOutput]) -> AsyncIterator[ChoiceOutput]:
        """``outputs``, counting the engine's time into the request's, and ending the trace
        when they end."""
        trace = self.trace
        error: BaseException | None = None
        try:
            async for item in outputs:
                timings = item[1].timings  # on a sequence's last output only
                if timings is not None and timings.admitted:
                    note_queue_time(timings.admitted - timings.arrived)
                if trace is not None:
                    trace.output(item[0], timings)
                yield item
        except BaseException as e:
            error = e
            raise
        finally:
            add_engine_time(time.perf_counter() - self.queued_at)
            if trace is not None:
                self._end_trace(trace, error)

    def _end_trace(self, trace: CompletionTrace, error: BaseException | None) -> None:
        usage = self.usage()
        trace.end(
            response_id=self.id,
            model=self.model_name,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens or 0,
            finish_reasons=[c.finish_reason for c in self.choices if c.finish_reason],
            outputs=lambda: [
                {"role": "assistant", "content": self.prefix + c.content} for c in self.choices
            ],
            error=error,
        )

    def hold(self, lease: Lease) -> None:
        """Keep ``lease`` until the outputs end, fail or are closed."""
        self.outputs = _released_after(self.outputs, lease)
        # Outputs dropped before their first item never run their ``finally``.
        weakref.finalize(self.outputs, lease.release).atexit = False

    def usage(self) -> UsageInfo:
        completion = sum(c.completion_tokens for c in self.choices)
        return UsageInfo(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=completion,
            total_tokens=self.prompt_tokens + completion,
        )

    async def _settle(self) -> None:
        if self.admission is not None:
            admission, self.admission = self.admission, None
            await admission.settle(self.usage())

    async def response(self) -> ChatCompletionResponse:
        context = current_request()
        try:
            async for index, out in self.outputs:
                if context is not None:
                    context.mark_first_token()
                choice = self.choices[index]
                choice.completion_tokens = out.completion_tokens
                choice.take(out.text, out.finish_reason)
                if out.finish_reason is not None:
                    choice.finish(out.finish_reason)
        finally:
            await self._settle()
        return completion_response(
            self.id,
            self.created,
            self.model_name,
            self.usage(),
            [(self.prefix + c.content, c.calls, c.finish_reason or "error") for c in self.choices],
        )

    async def chunks(self) -> AsyncIterator[CompletionChunk]:
        """Role first, then deltas, usage on the very last chunk; each call whole in one."""

        def chunk(
            index: int, delta: DeltaMessage, finish: str | None, usage: UsageInfo | None = None
        ) -> CompletionChunk:
            return CompletionChunk(
                id=self.id,
                created=self.created,
                model=self.model_name,
                choices=[
                    CompletionResponseStreamChoice(index=index, delta=delta, finish_reason=finish)
                ],
                usage=usage,
            )

        try:
            for c in self.choices:
                yield chunk(c.index, DeltaMessage(role="assistant", content=""), None)
            prefix_sent = [not self.prefix] * len(self.choices)
            remaining = len(self.choices)
            context = current_request()
            async for index, out in self.outputs:
                if context is not None:
                    context.mark_first_token()
                choice = self.choices[index]
                choice.completion_tokens = out.completion_tokens
                text, calls = choice.take(out.text, out.finish_reason)
                if not prefix_sent[index]:
                    text, prefix_sent[index] = self.prefix + text, True
                delta = DeltaMessage(content=text, tool_calls=calls or None)
                if out.finish_reason is None:
                    if text or calls:
                        yield chunk(index, delta, None)
                    continue
                remaining -= 1
                if remaining == 0:
                    # Settled before the last chunk leaves, so the client's usage is on record
                    # by the time it has read it.
                    await self._settle()
                    yield chunk(index, delta, choice.finish(out.finish_reason), self.usage())
                else:
                    yield chunk(index, delta, choice.finish(out.finish_reason))
        finally:
            await self._settle()


def completion_response(
    id: str,
    created: int,
    model: str,
    usage: UsageInfo,
    choices: list[tuple[str, list[ToolCallPublic], str]],
) -> ChatCompletionResponse:
    """A whole reply: each choice's content, calls and finish reason, in order."""
    return ChatCompletionResponse(
        id=id,
        created=created,
        model=model,
        usage=usage,
        choices=[
            ChatCompletionChoice(
                index=i,
                message=AssistantMessagePublic(content=content, tool_calls=calls or None),
                finish_reason=finish,
            )
            for i, (content, calls, finish) in enumerate(choices)
        ],
    )


async def start_completion(
    registry: ModelRegistry,
    requested: str,
    prepare: Callable[[ServedModel], PreparedCompletion],
    admission: Admission | None,
    priority: Priority,
    trace: Callable[[], CompletionTrace | None] | None = None,
) -> Completion:
    """Lease the model (loading it if needed), ``prepare`` the request for it in a worker
    thread, admit, queue. The model is held until the completion's outputs end or are closed,
    or released as soon as a step fails.

    Tokenizing a prompt and compiling a grammar take time that grows with the request; in a
    worker thread they never hold up the event loop, and every other request with it.
    """
    span = trace() if trace is not None and is_traced() else None
    with span.current() if span is not None else contextlib.nullcontext():
        try:
            lease = await registry.lease(requested)
            try:
                with child_span("autan.prepare"):
                    prepared = await _in_worker(prepare, lease.model)
                return await Completion.queue(lease, requested, prepared, admission, priority, span)
            except BaseException:
                lease.release()
                raise
        except BaseException as e:
            if span is not None:
                span.fail(requested, e)
            raise


async def _in_worker(
    prepare: Callable[[ServedModel], PreparedCompletion], model: ServedModel
) -> PreparedCompletion:
    work = asyncio.ensure_future(asyncio.to_thread(prepare, model))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        # The thread still reads the model (its tokenizer): the lease must outlive it, or the
        # model could be unloaded under it.
        await asyncio.wait([work])
        if not work.cancelled():
            work.exception()  # read, so that a failure here is not reported as unhandled
        raise


async def _released_after(
    outputs: AsyncIterator[ChoiceOutput], lease: Lease
) -> AsyncIterator[ChoiceOutput]:
    try:
        async for item in outputs:
            yield item
    finally:
        lease.release()


def _public_call(call: ParsedCall, index: int) -> ToolCallPublic:
    return ToolCallPublic(
        id=new_call_id(),
        function={"name": call.name, "arguments": call.arguments},
        index=index,
    )
