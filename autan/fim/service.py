"""The FIM service: what ``POST /v1/fim/completions`` calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

from autan.chat.admission import Admission, dispatch
from autan.chat.completion import Choice, Completion
from autan.chat.service import stop_strings
from autan.fim.prompt import FimPrompt, fim_prompt
from autan.inference.sampling import SamplingParams
from autan.inference.sequence import Priority
from autan.models.registry import ModelRegistry, ServedModel
from autan.protocol.chat import ChatCompletionResponse, CompletionChunk
from autan.protocol.fim import FIMCompletionRequest


class FimService:
    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry
        self._prompts: dict[str, FimPrompt] = {}

    def _prompt(self, model: ServedModel, name: str) -> FimPrompt:
        prompt = self._prompts.get(model.id)
        if prompt is None:
            prompt = fim_prompt(model.engine, model.mistral_tokenizer, model_name=name)
            self._prompts[model.id] = prompt
        return prompt

    async def _begin(
        self, req: FIMCompletionRequest, admission: Admission | None, priority: Priority
    ) -> Completion:
        lease = await self._registry.lease(req.model)
        try:
            completion = self._start(req, lease.model, admission, priority)
        except BaseException:
            lease.release()
            raise
        completion.hold(lease)
        return completion

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
        return await (await self._begin(req, admission, priority)).response()

    async def stream(
        self, req: FIMCompletionRequest, admission: Admission | None = None
    ) -> AsyncIterator[CompletionChunk]:
        """Chat-completion chunks; the request is checked and queued before the first one."""
        return (await self._begin(req, admission, Priority.INTERACTIVE)).chunks()
