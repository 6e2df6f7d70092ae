"""The FIM service: what ``POST /v1/fim/completions`` calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

from autan.chat.admission import Admission
from autan.chat.completion import Completion, PreparedCompletion, start_completion
from autan.chat.service import stop_strings
from autan.errors import InvalidRequest
from autan.inference.sampling import SamplingParams
from autan.inference.sequence import Priority
from autan.models.registry import ModelRegistry, ServedModel
from autan.observability.completion_trace import CompletionTrace
from autan.protocol.chat import ChatCompletionResponse, CompletionChunk
from autan.protocol.fim import FIMCompletionRequest


class FimService:
    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry

    async def start(
        self, req: FIMCompletionRequest, admission: Admission | None, priority: Priority
    ) -> Completion:
        return await start_completion(
            self._registry,
            req.model,
            lambda model: _prepare(req, model),
            admission,
            priority,
            lambda: CompletionTrace.start(
                "text_completion",
                req.model,
                {
                    "gen_ai.request.max_tokens": req.max_tokens,
                    "gen_ai.request.temperature": req.temperature,
                    "gen_ai.request.top_p": req.top_p,
                    "gen_ai.request.seed": req.random_seed,
                    "gen_ai.request.stream": bool(req.stream),
                },
                lambda: {"prompt": req.prompt, "suffix": req.suffix},
            ),
        )

    async def complete(
        self,
        req: FIMCompletionRequest,
        admission: Admission | None = None,
        *,
        priority: Priority = Priority.INTERACTIVE,
    ) -> ChatCompletionResponse:
        """The whole reply; ``priority`` BATCH for batch lines, admitted after interactive work."""
        return await (await self.start(req, admission, priority)).response()

    async def stream(
        self, req: FIMCompletionRequest, admission: Admission | None = None
    ) -> AsyncIterator[CompletionChunk]:
        """Chat-completion chunks; the request is checked and queued before the first one."""
        return (await self.start(req, admission, Priority.INTERACTIVE)).chunks()


def _prepare(req: FIMCompletionRequest, model: ServedModel) -> PreparedCompletion:
    """The prompt tokens and sampling: runs in a worker thread."""
    fim = model.formats.fim
    if fim is None:
        raise InvalidRequest(
            f"Model '{req.model}' does not support fill-in-the-middle completions: "
            "use a model whose card lists completion_fim, such as a Codestral model",
            param="model",
        )
    tokens = fim.tokens(req.prompt, req.suffix or "")
    params = SamplingParams(
        max_tokens=req.max_tokens,
        min_tokens=req.min_tokens or 0,
        temperature=model.default_temperature if req.temperature is None else req.temperature,
        top_p=1.0 if req.top_p is None else req.top_p,
        seed=req.random_seed,
        stop=stop_strings(req.stop),
    )
    return PreparedCompletion(
        tokens=tokens,
        params=[params],
        parsers=[None],
        max_new_tokens=req.max_tokens or max(0, model.engine.context - len(tokens)),
    )
