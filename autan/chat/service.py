"""The chat completion service: what ``POST /v1/chat/completions`` calls."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from autan.chat.prompt import ChatPrompt, build_prompt
from autan.chat.template import ChatTemplate
from autan.chat.validation import validate_messages
from autan.errors import InvalidRequest
from autan.inference.engine import ChoiceOutput
from autan.inference.sampling import SamplingParams
from autan.models.registry import ModelRegistry, ServedModel
from autan.protocol.chat import (
    AssistantMessagePublic,
    BuiltinTool,
    ChatCompletionChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionChunk,
    CompletionResponseStreamChoice,
    DeltaMessage,
    UsageInfo,
)


@dataclass(slots=True)
class _Choice:
    """One choice being generated: its text so far and how it ended."""

    index: int
    text: str = ""
    completion_tokens: int = 0
    finish_reason: str | None = None


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
    """Fields the schema accepts but this server does not implement yet: a 400, never ignored."""
    if req.tools:
        kind = "built-in tools" if any(isinstance(t, BuiltinTool) for t in req.tools) else "tools"
        raise InvalidRequest(f"Function calling ({kind}) is not supported yet", param="tools")
    if req.tool_choice not in ("auto", "none"):
        raise InvalidRequest(
            "tool_choice requires tools, which were not given", param="tool_choice"
        )
    if req.response_format is not None and req.response_format.type != "text":
        raise InvalidRequest(
            f"response_format type '{req.response_format.type}' is not supported yet",
            param="response_format",
        )
    if req.prediction is not None and req.prediction.content:
        raise InvalidRequest("Predicted outputs are not supported", param="prediction")
    if req.guardrails:
        raise InvalidRequest("Guardrails are not supported", param="guardrails")
    if req.prompt_mode is not None:
        raise InvalidRequest("prompt_mode 'reasoning' needs a reasoning model", param="prompt_mode")
    if req.reasoning_effort not in (None, "none"):
        raise InvalidRequest("reasoning_effort needs a reasoning model", param="reasoning_effort")


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

    def _start(self, req: ChatCompletionRequest) -> _Run:
        model = self._registry.resolve(req.model)
        _reject_unsupported(req)
        validate_messages(req.messages)
        prompt = build_prompt(
            req.messages, model.engine, self._template(model), safe_prompt=req.safe_prompt
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
            )
            for i in range(n)
        ]
        return _Run(
            id=uuid.uuid4().hex,
            created=int(time.time()),
            model_name=req.model,
            prompt=prompt,
            outputs=model.engine.generate(prompt.tokens, params),
            choices=[_Choice(i) for i in range(n)],
        )

    async def complete(self, req: ChatCompletionRequest) -> ChatCompletionResponse:
        run = self._start(req)
        async for index, out in run.outputs:
            choice = run.choices[index]
            choice.text += out.text
            choice.completion_tokens = out.completion_tokens
            if out.finish_reason is not None:
                choice.finish_reason = out.finish_reason
        return ChatCompletionResponse(
            id=run.id,
            created=run.created,
            model=run.model_name,
            usage=run.usage(),
            choices=[
                ChatCompletionChoice(
                    index=c.index,
                    message=AssistantMessagePublic(content=run.prompt.prefix + c.text),
                    finish_reason=c.finish_reason,
                )
                for c in run.choices
            ],
        )

    def stream(self, req: ChatCompletionRequest) -> AsyncIterator[CompletionChunk]:
        """Chunks as Mistral sends them: role first, then deltas, usage on the very last one.

        The request is validated and queued before the first chunk, so errors surface as a
        plain HTTP error, never inside a 200 stream.
        """
        run = self._start(req)
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
            text = out.text
            if not prefix_sent[index]:
                text, prefix_sent[index] = run.prompt.prefix + text, True
            if out.finish_reason is None:
                yield chunk(index, DeltaMessage(content=text), None)
                continue
            remaining -= 1
            choice.finish_reason = out.finish_reason
            usage = run.usage() if remaining == 0 else None
            yield chunk(index, DeltaMessage(content=text), out.finish_reason, usage)
