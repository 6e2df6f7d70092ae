"""The FIM service: what ``POST /v1/fim/completions`` calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

from autan.chat.admission import Admission, dispatch
from autan.chat.completion import Choice, Completion, start_leased
from autan.chat.service import stop_strings
from autan.fim.prompt import FimPrompt, fim_prompt
from autan.inference.engine import Engine
from autan.inference.sampling import SamplingParams
from autan.inference.sequence import Priority
from autan.models.registry import ModelRegistry, ServedModel
from autan.protocol.chat import ChatCompletionResponse, CompletionChunk
from autan.protocol.fim import FIMCompletionRequest


class FimService:
    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry
        # With the engine each was built for: a reloaded model gets a new one (see ChatService).
        self._prompts: dict[str, tuple[Engine, FimPrompt]] = {}

    def _prompt(self, model: ServedModel, name: str) -> FimPrompt:
        engine, prompt = self._prompts.get(model.id, (None, None))
        if prompt is None or engine is not model.engine:
            prompt = fim_prompt(model.engine, model.mistral_tokenizer, model_name=name)
            self._prompts[model.id] = (model.engine, prompt)
        return prompt

    async def _leased(
        self, req: FIMCompletionRequest, admission: Admission | None, priority: Priority
    ) -> Completion:
        return await start_leased(
            self._registry, req.model, lambda model: self._start(req, model, admission, priority)
        )

    def _start(
        self,
        req: FIMCompletionRequest,
        model: ServedModel,
        admission: Admission | None,
        priority: Priority,
    ) -> Completion:
        tokens = self._prompt(model, req.model).tokens(req.prompt, req.suffix or "")
        params = SamplingParams(
            max_tokens=req.max_tokens,
            min_tokens=req.min_tokens or 0,
            temperature=model.default_temperature if req.temperature is None else req.temperature,
            top_p=1.0 if req.top_p is None else req.top_p,
            seed=req.random_seed,
            stop=stop_strings(req.stop),
        )
        max_new = req.max_tokens or max(0, model.engine.context - len(tokens))
        return Completion(
            model_name=req.model,
            prompt_tokens=len(tokens),
            outputs=dispatch(
                admission,
                model,
                req.model,
                len(tokens),
                max_new,
                lambda: model.engine.generate(tokens, [params], priority=priority),
            ),
            choices=[Choice(0, None)],
            admission=admission,
        )

    async def complete(
        self,
        req: FIMCompletionRequest,
        admission: Admission | None = None,
        *,
        priority: Priority = Priority.INTERACTIVE,
    ) -> ChatCompletionResponse:
        """The whole reply; ``priority`` BATCH for batch lines, admitted after interactive work."""
        return await (await self._leased(req, admission, priority)).response()

    async def stream(
        self, req: FIMCompletionRequest, admission: Admission | None = None
    ) -> AsyncIterator[CompletionChunk]:
        """Chat-completion chunks; the request is checked and queued before the first one."""
        return (await self._leased(req, admission, Priority.INTERACTIVE)).chunks()
