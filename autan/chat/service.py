"""The chat completion service: what ``POST /v1/chat/completions`` calls."""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from autan.chat.json_tools import JsonToolFormat
from autan.chat.prompt import ChatPrompt, build_prompt
from autan.chat.schemas import check_schema, lark_json
from autan.chat.template import ChatTemplate
from autan.chat.tool_format import Parsed, ParsedCall, ToolCallParser, ToolFormat
from autan.chat.tools import ToolPlan, new_call_id, plan_tools
from autan.chat.validation import validate_messages
from autan.errors import InvalidRequest
from autan.inference.constraints import Grammar, GrammarError, Grammars
from autan.inference.engine import ChoiceOutput
from autan.inference.sampling import SamplingParams
from autan.models.registry import ModelLease, ModelRegistry, ServedModel
from autan.protocol.chat import (
    AssistantMessagePublic,
    ChatCompletionChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionChunk,
    CompletionResponseStreamChoice,
    DeltaMessage,
    ToolCallPublic,
    UsageInfo,
)


@dataclass(slots=True)
class _Choice:
    """One choice being generated: what it said so far, its calls and how it ended."""

    index: int
    parser: ToolCallParser | None
    content: str = ""
    calls: list[ToolCallPublic] = field(default_factory=list)
    completion_tokens: int = 0
    finish_reason: str | None = None

    def take(self, text: str, *, last: bool) -> tuple[str, list[ToolCallPublic]]:
        """Feed generated text; return the content and the complete calls it released."""
        if self.parser is None:
            parsed = Parsed(content=text)
        else:
            parsed = self.parser.feed(text)
            if last:
                tail = self.parser.finish()
                parsed = Parsed(parsed.content + tail.content, parsed.calls + tail.calls)
        calls = [_public_call(call, len(self.calls) + i) for i, call in enumerate(parsed.calls)]
        self.content += parsed.content
        self.calls += calls
        return parsed.content, calls

    def finish(self, reason: str) -> str:
        self.finish_reason = "tool_calls" if self.calls and reason == "stop" else reason
        return self.finish_reason


@dataclass(slots=True)
class _Run:
    """A request turned into engine work: the prompt, the model and one state per choice."""

    id: str
    created: int
    model_name: str
    prompt: ChatPrompt
    outputs: AsyncIterator[ChoiceOutput]
    choices: list[_Choice] = field(default_factory=list)

    def usage(self) -> UsageInfo:
        completion = sum(c.completion_tokens for c in self.choices)
        prompt = len(self.prompt.tokens)
        return UsageInfo(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )


def _reject_unsupported(req: ChatCompletionRequest) -> None:
    """Fields the schema accepts but this server does not implement: a 400, never ignored."""
    if req.prediction is not None and req.prediction.content:
        raise InvalidRequest("Predicted outputs are not supported", param="prediction")
    if req.guardrails:
        raise InvalidRequest("Guardrails are not supported", param="guardrails")
    if req.prompt_mode is not None:
        raise InvalidRequest("prompt_mode 'reasoning' needs a reasoning model", param="prompt_mode")
    if req.reasoning_effort not in (None, "none"):
        raise InvalidRequest("reasoning_effort needs a reasoning model", param="reasoning_effort")


def _response_rule(req: ChatCompletionRequest) -> str | None:
    """The ``%json`` term a reply without tool calls must match, or None for free text."""
    fmt = req.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return lark_json({"type": "object"})
    if fmt.json_schema is None:
        raise InvalidRequest(
            "response_format of type 'json_schema' needs a json_schema with a schema",
            param="response_format.json_schema",
        )
    schema = check_schema(
        fmt.json_schema.schema_,
        param="response_format.json_schema.schema",
        what="The response_format schema",
    )
    return lark_json(schema)


class ChatService:
    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry
        self._templates: dict[str, ChatTemplate] = {}

    def _template(self, model: ServedModel) -> ChatTemplate:
        template = self._templates.get(model.id)
        if template is None:
            info = model.engine.info
            template = ChatTemplate(
                info.chat_template, bos_text=info.bos_text, eos_text=info.eos_text
            )
            self._templates[model.id] = template
        return template

    def _tool_format(self, model: ServedModel) -> ToolFormat:
        """Models with a chat template get the JSON tool syntax their grammar enforces."""
        return JsonToolFormat()

    def _grammar(
        self, req: ChatCompletionRequest, model: ServedModel, plan: ToolPlan, tools: ToolFormat
    ) -> Grammar | None:
        """The grammar every choice must follow, compiled before anything is queued.

        Each schema is first compiled alone, so a 400 names the one that cannot be enforced.
        """
        text_rule = _response_rule(req)
        if text_rule is None and not plan.active:
            return None
        grammars = model.engine.grammars
        parts = [(text_rule, "response_format.json_schema.schema")] if text_rule else []
        if plan.active:
            index = {t.name: i for i, t in enumerate(plan.declared)}
            parts += [
                (lark_json(t.parameters), f"tools[{index[t.name]}].function.parameters")
                for t in plan.callable
            ]
        for rule, param in parts:
            _compile(grammars, f"start: {rule}", param)
        if plan.active:
            return _compile(grammars, tools.lark(plan, text_rule), "tools")
        assert text_rule is not None
        return _compile(grammars, f"start: {text_rule}", "response_format")

    async def _begin(self, req: ChatCompletionRequest) -> _Run:
        """Acquire the model (loading it if needed) and start the run; the model is held
        until the run's outputs end or are closed."""
        lease = await self._registry.lease(req.model)
        try:
            run = self._start(req, lease.model)
        except BaseException:
            lease.release()
            raise
        run.outputs = _released_after(run.outputs, lease)
        # Outputs dropped before their first item never run their ``finally``.
        weakref.finalize(run.outputs, lease.release).atexit = False
        return run

    def _start(self, req: ChatCompletionRequest, model: ServedModel) -> _Run:
        _reject_unsupported(req)
        validate_messages(req.messages)
        plan = plan_tools(req)
        tools = self._tool_format(model)
        grammar = self._grammar(req, model, plan, tools)
        last = req.messages[-1]
        if grammar is not None and getattr(last, "prefix", False):
            raise InvalidRequest(
                "An assistant prefix cannot be combined with tool calls or a response_format: "
                "the reply would have to match the grammar from its first character",
                param="messages",
            )
        prompt = build_prompt(
            req.messages,
            model.engine,
            self._template(model),
            safe_prompt=req.safe_prompt,
            tools=tools,
            plan=plan,
        )
        n = req.n or 1
        stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
        temperature = model.default_temperature if req.temperature is None else req.temperature
        params = [
            SamplingParams(
                max_tokens=req.max_tokens,
                temperature=temperature,
                top_p=1.0 if req.top_p is None else req.top_p,
                presence_penalty=req.presence_penalty or 0.0,
                frequency_penalty=req.frequency_penalty or 0.0,
                seed=None if req.random_seed is None else req.random_seed + i,
                stop=stop,
                grammar=grammar,
            )
            for i in range(n)
        ]
        return _Run(
            id=uuid.uuid4().hex,
            created=int(time.time()),
            model_name=req.model,
            prompt=prompt,
            outputs=model.engine.generate(prompt.tokens, params),
            choices=[_Choice(i, tools.parser() if plan.active else None) for i in range(n)],
        )

    async def complete(self, req: ChatCompletionRequest) -> ChatCompletionResponse:
        run = await self._begin(req)
        async for index, out in run.outputs:
            choice = run.choices[index]
            choice.completion_tokens = out.completion_tokens
            choice.take(out.text, last=out.finish_reason is not None)
            if out.finish_reason is not None:
                choice.finish(out.finish_reason)
        return ChatCompletionResponse(
            id=run.id,
            created=run.created,
            model=run.model_name,
            usage=run.usage(),
            choices=[
                ChatCompletionChoice(
                    index=c.index,
                    message=AssistantMessagePublic(
                        content=run.prompt.prefix + c.content, tool_calls=c.calls or None
                    ),
                    finish_reason=c.finish_reason,
                )
                for c in run.choices
            ],
        )

    async def stream(self, req: ChatCompletionRequest) -> AsyncIterator[CompletionChunk]:
        """Chunks as Mistral sends them: role first, then deltas, usage on the very last one.

        Each tool call arrives whole in one chunk. The request is validated and queued before
        the first chunk, so errors surface as a plain HTTP error, never inside a 200 stream.
        """
        run = await self._begin(req)
        return self._chunks(run)

    async def _chunks(self, run: _Run) -> AsyncIterator[CompletionChunk]:
        def chunk(
            index: int, delta: DeltaMessage, finish: str | None, usage: UsageInfo | None = None
        ) -> CompletionChunk:
            return CompletionChunk(
                id=run.id,
                created=run.created,
                model=run.model_name,
                choices=[
                    CompletionResponseStreamChoice(
                        index=index,
                        delta=delta,
                        finish_reason=finish,
                    )
                ],
                usage=usage,
            )

        for c in run.choices:
            yield chunk(c.index, DeltaMessage(role="assistant", content=""), None)
        prefix_sent = [not run.prompt.prefix] * len(run.choices)
        remaining = len(run.choices)
        async for index, out in run.outputs:
            choice = run.choices[index]
            choice.completion_tokens = out.completion_tokens
            last = out.finish_reason is not None
            text, calls = choice.take(out.text, last=last)
            if not prefix_sent[index]:
                text, prefix_sent[index] = run.prompt.prefix + text, True
            delta = DeltaMessage(content=text, tool_calls=calls or None)
            if out.finish_reason is None:
                if text or calls:
                    yield chunk(index, delta, None)
                continue
            remaining -= 1
            usage = run.usage() if remaining == 0 else None
            yield chunk(index, delta, choice.finish(out.finish_reason), usage)


async def _released_after(
    outputs: AsyncIterator[ChoiceOutput], lease: ModelLease
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


def _compile(grammars: Grammars, lark: str, param: str) -> Grammar:
    try:
        return grammars.lark(lark)
    except GrammarError as e:
        raise InvalidRequest(f"Cannot enforce this schema: {e}", param=param) from e
