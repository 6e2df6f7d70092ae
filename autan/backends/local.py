"""This server's own engine as a backend: a model of the registry, or the embedding model."""

from __future__ import annotations

from autan.chat.admission import Admission
from autan.chat.completion import Completion
from autan.chat.service import ChatService
from autan.embeddings.service import EmbeddingAdmission, EmbeddingService
from autan.errors import UnknownModel
from autan.fim.service import FimService
from autan.inference.sequence import Priority
from autan.models.card import Capabilities
from autan.protocol.chat import ChatCompletionRequest
from autan.protocol.embeddings import EmbeddingRequest, EmbeddingResponse
from autan.protocol.fim import FIMCompletionRequest

LOCAL = "local"


class LocalBackend:
    """Requests for the models this server loads itself; the engine checks the context."""

    def __init__(
        self,
        capabilities: Capabilities,
        chat: ChatService,
        fim: FimService,
        embeddings: EmbeddingService | None,
    ) -> None:
        self._capabilities = capabilities
        self._chat = chat
        self._fim = fim
        self._embeddings = embeddings

    @property
    def name(self) -> str:
        return LOCAL

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def context_length(self) -> int | None:
        return None

    async def start_chat(
        self, req: ChatCompletionRequest, admission: Admission | None, priority: Priority
    ) -> Completion:
        return await self._chat.start(req, admission, priority)

    async def start_fim(
        self, req: FIMCompletionRequest, admission: Admission | None, priority: Priority
    ) -> Completion:
        return await self._fim.start(req, admission, priority)

    async def embed(
        self, req: EmbeddingRequest, admission: EmbeddingAdmission | None
    ) -> EmbeddingResponse:
        if self._embeddings is None:
            raise UnknownModel(req.model)
        return await self._embeddings.embed(req, admission)
