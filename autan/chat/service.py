"""The chat completion service: what ``POST /v1/chat/completions`` calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

from autan.chat.admission import Admission, dispatch
from autan.chat.completion import Choice, Completion, start_leased
from autan.chat.mistral_prompt import MistralPrompt
from autan.chat.prompt import PromptFormat
from autan.chat.schemas import check_schema, lark_json
from autan.chat.template import ChatTemplate
from autan.chat.template_prompt import TemplatePrompt
from autan.chat.tools import ToolPlan, plan_tools
from autan.chat.validation import validate_messages
from autan.errors import InvalidRequest
from autan.inference.constraints import Grammar, GrammarError, Grammars
from autan.inference.engine import Engine
from autan.inference.sampling import SamplingParams
from autan.inference.sequence import Priority
from autan.models.registry import ModelRegistry, ServedModel
from autan.protocol.chat import ChatCompletionRequest, ChatCompletionResponse, CompletionChunk


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
        # By model id, with the engine it was built for: a model unloaded and loaded again has
        # a new engine, and a format must never reach into a closed one.
        self._formats: dict[str, tuple[Engine, PromptFormat]] = {}

    def _format(self, model: ServedModel) -> PromptFormat:
        """Mistral-tokenizer models are prompted by mistral-common; others by their template."""
        engine, fmt = self._formats.get(model.id, (None, None))
        if fmt is None or engine is not model.engine:
            if model.mistral_tokenizer is not None:
                fmt = MistralPrompt(model.mistral_tokenizer)
            else:
                info = model.engine.info
                template = ChatTemplate(
                    info.chat_template, bos_text=info.bos_text, eos_text=info.eos_text
                )
                fmt = TemplatePrompt(model.engine, template)
            self._formats[model.id] = (model.engine, fmt)
        return fmt

    def _grammar(
        self, req: ChatCompletionRequest, model: ServedModel, plan: ToolPlan, fmt: PromptFormat
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
            return _compile(grammars, fmt.lark(plan, text_rule), "tools")
        assert text_rule is not None
        return _compile(grammars, f"start: {text_rule}", "response_format")

    async def _leased(
        self, req: ChatCompletionRequest, admission: Admission | None, priority: Priority
    ) -> Completion:
        return await start_leased(
            self._registry, req.model, lambda model: self._start(req, model, admission, priority)
        )

    def _start(
        self,
        req: ChatCompletionRequest,
        model: ServedModel,
        admission: Admission | None,
        priority: Priority,
    ) -> Completion:
        _reject_unsupported(req)
        validate_messages(req.messages)
        plan = plan_tools(req)
        fmt = self._format(model)
        grammar = self._grammar(req, model, plan, fmt)
        last = req.messages[-1]
        if grammar is not None and getattr(last, "prefix", False):
            raise InvalidRequest(
                "An assistant prefix cannot be combined with tool calls or a response_format: "
                "the reply would have to match the grammar from its first character",
                param="messages",
            )
        prompt = fmt.prompt(req.messages, safe_prompt=req.safe_prompt, plan=plan)
        n = req.n or 1
        temperature = model.default_temperature if req.temperature is None else req.temperature
        params = [
            SamplingParams(
                max_tokens=req.max_tokens,
                temperature=temperature,
                top_p=1.0 if req.top_p is None else req.top_p,
                presence_penalty=req.presence_penalty or 0.0,
                frequency_penalty=req.frequency_penalty or 0.0,
                seed=None if req.random_seed is None else req.random_seed + i,
                stop=stop_strings(req.stop),
                grammar=grammar,
            )
            for i in range(n)
        ]
        prompt_tokens = len(prompt.tokens)
        max_new = req.max_tokens or max(0, model.engine.context - prompt_tokens)
        return Completion(
            model_name=req.model,
            prompt_tokens=prompt_tokens,
            outputs=dispatch(
                admission,
                model,
                req.model,
                prompt_tokens,
                n * max_new,
                lambda: model.engine.generate(prompt.tokens, params, priority=priority),
            ),
            choices=[Choice(i, fmt.parser(plan)) for i in range(n)],
            prefix=prompt.prefix,
            admission=admission,
        )

    async def complete(
        self,
        req: ChatCompletionRequest,
        admission: Admission | None = None,
        *,
        priority: Priority = Priority.INTERACTIVE,
    ) -> ChatCompletionResponse:
        """The whole reply; ``priority`` BATCH for batch lines, admitted after interactive work."""
        return await (await self._leased(req, admission, priority)).response()

    async def stream(
        self, req: ChatCompletionRequest, admission: Admission | None = None
    ) -> AsyncIterator[CompletionChunk]:
        """Chunks as Mistral sends them: role first, then deltas, usage on the very last one.

        Each tool call arrives whole in one chunk. The request is validated and queued before
        the first chunk, so errors surface as a plain HTTP error, never inside a 200 stream.
        """
        return (await self._leased(req, admission, Priority.INTERACTIVE)).chunks()


def _compile(grammars: Grammars, lark: str, param: str) -> Grammar:
    try:
        return grammars.lark(lark)
    except GrammarError as e:
        raise InvalidRequest(f"Cannot enforce this schema: {e}", param=param) from e


def stop_strings(stop: str | list[str] | None) -> tuple[str, ...]:
    return (stop,) if isinstance(stop, str) else tuple(stop or ())
