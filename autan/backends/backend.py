"""The one protocol every backend implements, the local engine included.

A backend starts a completion and hands back a ``Reply``: by the time ``start_*`` returns, the
request was accepted and (for a stream) its first chunk is in hand, so a failure before that
point can still be retried elsewhere without the client seeing anything twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from autan.chat.admission import Admission
from autan.embeddings.service import EmbeddingAdmission
from autan.inference.sequence import Priority
from autan.models.card import Capabilities
from autan.protocol.chat import ChatCompletionRequest, ChatCompletionResponse, CompletionChunk
from autan.protocol.embeddings import EmbeddingRequest, EmbeddingResponse
from autan.protocol.fim import FIMCompletionRequest


class Reply(Protocol):
    """A completion under way: read it whole or as chunks, once."""

    async def response(self) -> ChatCompletionResponse: ...

    def chunks(self) -> AsyncIterator[CompletionChunk]: ...


class Backend(Protocol):
    """One deployment of one served model."""

    @property
    def name(self) -> str:
        """How logs, ``/health`` and the usage ledger name it."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def context_length(self) -> int | None:
        """The most tokens a request may hold (prompt + reply), when declared."""
        ...

    async def start_chat(
        self, req: ChatCompletionRequest, admission: Admission | None, priority: Priority
    ) -> Reply: ...

    async def start_fim(
        self, req: FIMCompletionRequest, admission: Admission | None, priority: Priority
    ) -> Reply: ...

    async def embed(
        self, req: EmbeddingRequest, admission: EmbeddingAdmission | None
    ) -> EmbeddingResponse: ...
