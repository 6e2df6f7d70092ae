"""The chat completion service: what ``POST /v1/chat/completions`` calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from autan.chat.admission import Admission
from autan.chat.completion import Completion, PreparedCompletion, start_completion
from autan.chat.prompt import PromptFormat
from autan.chat.schemas import bound_schemas, check_satisfiable, check_schema, lark_json
from autan.chat.tools import ToolPlan, plan_tools
from autan.chat.validation import validate_messages
from autan.errors import InvalidRequest
from autan.inference.constraints import Grammar, GrammarError, Grammars
from autan.inference.sampling import SamplingParams
from autan.inference.sequence import Priority
from autan.models.registry import ModelRegistry, ServedModel
from autan.observability.completion_trace import CompletionTrace
from autan.observability.tracing import child_span
from autan.protocol.chat import ChatCompletionRequest, ChatCompletionResponse, CompletionChunk
from autan.settings import RequestLimits


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
    param = "response_format.json_schema.schema"
    what = "The response_format schema"
    schema = check_schema(fmt.json_schema.schema_, param=param, what=what)
    check_satisfiable(schema, param=param, what=what)
    return lark_json(schema)


def _request_schemas(req: ChatCompletionRequest) -> list[tuple[Any, str]]:
    """Every JSON schema the request carries, with the param that names it."""
    schemas: list[tuple[Any, str]] = []
    fmt = req.response_format
    if fmt is not None and fmt.json_schema is not None:
        schemas.append((fmt.json_schema.schema_, "response_format.json_schema.schema"))
    for i, tool in enumerate(req.tools or []):
        function = getattr(tool, "function", None)
        if function is not None:
            schemas.append((function.parameters, f"tools[{i}].function.parameters"))
    return schemas


def check_request(
    req: ChatCompletionRequest, limits: RequestLimits, *, response_format: bool = True
) -> ToolPlan:
    """What every backend checks before anything is sent: fields, messages, schema sizes,
    tools and (unless the caller compiles it itself) the response format. Returns the tool
    plan; a 400 names what is wrong."""
    _reject_unsupported(req)
    validate_messages(req.messages, max_messages=limits.max_messages)
    bound_schemas(_request_schemas(req), limits)
    plan = plan_tools(req)
    if response_format:
        _response_rule(req)
    return plan


class ChatService:
    def __init__(self, registry: ModelRegistry, limits: RequestLimits | None = None) -> None:
        self._registry = registry
        self._limits = limits or RequestLimits()

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
            for t in plan.callable:
                param = f"tools[{index[t.name]}].function.parameters"
                what = f"The parameters of function '{t.name}'"
                check_satisfiable(t.parameters, param=param, what=what)
                parts.append((lark_json(t.parameters), param))
        with child_span("autan.grammar", {"autan.grammar.schemas": len(parts)}):
            for rule, param in parts:
                _compile(grammars, f"start: {rule}", param)
            if plan.active:
                return _compile(grammars, fmt.lark(plan, text_rule), "tools")
            assert text_rule is not None
            return _compile(grammars, f"start: {text_rule}", "response_format")

    async def start(
        self, req: ChatCompletionRequest, admission: Admission | None, priority: Priority
    ) -> Completion:
        return await start_completion(
            self._registry,
            req.model,
            lambda model: self._prepare(req, model),
            admission,
            priority,
            lambda: _trace(req),
        )

    def _prepare(self, req: ChatCompletionRequest, model: ServedModel) -> PreparedCompletion:
        """Check the request, build its prompt and grammar: runs in a worker thread."""
        plan = check_request(req, self._limits, response_format=False)  # compiled below
        fmt = model.formats.chat
        grammar = self._grammar(req, model, plan, fmt)
        last = req.messages[-1]
        if grammar is not None and getattr(last, "prefix", False):
            raise InvalidRequest(
                "An assistant prefix cannot be combined with tool calls or a response_format: "
                "the reply would have to match the grammar from its first character",
                param="messages",
            )
        if grammar is not None and req.max_tokens is not None:
            _check_budget(model.engine.grammars, grammar, req.max_tokens)
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
        return PreparedCompletion(
            tokens=prompt.tokens,
            params=params,
            parsers=[fmt.parser(plan) for _ in range(n)],
            max_new_tokens=req.max_tokens or max(0, model.engine.context - len(prompt.tokens)),
            prefix=prompt.prefix,
        )

    async def complete(
        self,
        req: ChatCompletionRequest,
        admission: Admission | None = None,
        *,
        priority: Priority = Priority.INTERACTIVE,
    ) -> ChatCompletionResponse:
        """The whole reply; ``priority`` BATCH for batch lines, admitted after interactive work."""
        return await (await self.start(req, admission, priority)).response()

    async def stream(
        self, req: ChatCompletionRequest, admission: Admission | None = None
    ) -> AsyncIterator[CompletionChunk]:
        """Chunks as Mistral sends them: role first, then deltas, usage on the very last one.

        Each tool call arrives whole in one chunk. The request is validated and queued before
        the first chunk, so errors surface as a plain HTTP error, never inside a 200 stream.
        """
        return (await self.start(req, admission, Priority.INTERACTIVE)).chunks()


def _trace(req: ChatCompletionRequest) -> CompletionTrace | None:
    """The ``chat {model}`` span of a traced request (GenAI semantic conventions)."""
    return CompletionTrace.start(
        "chat",
        req.model,
        {
            "gen_ai.request.max_tokens": req.max_tokens,
            "gen_ai.request.temperature": req.temperature,
            "gen_ai.request.top_p": req.top_p,
            "gen_ai.request.seed": req.random_seed,
            "gen_ai.request.presence_penalty": req.presence_penalty,
            "gen_ai.request.frequency_penalty": req.frequency_penalty,
            "gen_ai.request.choice.count": req.n,
            "gen_ai.request.stream": bool(req.stream),
        },
        lambda: [m.model_dump(mode="json", exclude_none=True) for m in req.messages],
    )


def _check_budget(grammars: Grammars, grammar: Grammar, max_tokens: int) -> None:
    """A 400 when ``max_tokens`` cannot hold even a short complete reply under ``grammar``:
    within the budget the engine always ends the reply complete (``ReplyBudget``)."""
    shortest = grammars.shortest(grammar)
    if shortest is not None and max_tokens < len(shortest):
        raise InvalidRequest(
            f"max_tokens is {max_tokens}, but the shortest reply that follows the "
            f"response_format or tool_choice takes {len(shortest)} tokens",
            param="max_tokens",
        )


def _compile(grammars: Grammars, lark: str, param: str) -> Grammar:
    try:
        return grammars.lark(lark)
    except GrammarError as e:
        raise InvalidRequest(f"Cannot enforce this schema: {e}", param=param) from e


def stop_strings(stop: str | list[str] | None) -> tuple[str, ...]:
    return (stop,) if isinstance(stop, str) else tuple(stop or ())
