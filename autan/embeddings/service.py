"""``POST /v1/embeddings`` without HTTP: names, input limits, the model off the event loop,
output formats and usage."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Protocol

from autan.embeddings.batcher import EmbeddingBatcher
from autan.embeddings.model import Embedder, EmbeddingModel
from autan.embeddings.output_format import OutputFormat
from autan.embeddings.packaged import PackagedEmbeddingMissing
from autan.errors import InvalidRequest, UnknownModel
from autan.observability.request_context import add_engine_time
from autan.protocol.chat import UsageInfo
from autan.protocol.embeddings import EmbeddingRequest, EmbeddingResponse, EmbeddingResponseData
from autan.settings import EmbeddingSettings

log = logging.getLogger(__name__)

_NO_USAGE = UsageInfo(prompt_tokens=0, completion_tokens=0, total_tokens=0)


class EmbeddingAdmission(Protocol):
    """The caller's limits, as for completions (``chat.admission.Admission``): told the most
    tokens the inputs may count before they are embedded, told the real count after."""

    async def admit_embedding(
        self, model_id: str, aliases: Sequence[str], requested: str, most_tokens: int
    ) -> None: ...

    async def settle(self, usage: UsageInfo) -> None: ...


class EmbeddingService:
    """Serves one embedding model under its id and aliases. Requests are checked here, on the
    event loop, and embedded by an ``EmbeddingBatcher`` on its worker thread."""

    def __init__(
        self,
        model: Embedder,
        *,
        id: str,
        aliases: Sequence[str] = (),
        max_inputs: int = 512,
        batch_texts: int = 32,
    ) -> None:
        self.model = model
        self.id = id
        self.aliases = list(aliases)
        self.max_inputs = max_inputs
        self.created = int(time.time())
        self._names = {id, *aliases}
        self.batcher = EmbeddingBatcher(model, max_texts=batch_texts)

    @classmethod
    def load(cls, settings: EmbeddingSettings) -> EmbeddingService | None:
        """The packaged model as configured, or None (logged) when it is off or not installed."""
        if not settings.enabled:
            return None
        try:
            model = EmbeddingModel.load_packaged(settings)
        except PackagedEmbeddingMissing as e:
            log.warning("embeddings disabled: %s", e)
            return None
        log.info(
            "loaded embedding model %s (%d dimensions, %d tokens, %d threads)",
            settings.id,
            model.dimension,
            model.max_tokens,
            settings.threads,
        )
        return cls(
            model,
            id=settings.id,
            aliases=settings.aliases,
            max_inputs=settings.max_inputs,
            batch_texts=settings.batch_size,
        )

    def serves(self, name: str) -> bool:
        return name in self._names

    def _check_inputs(self, texts: list[str]) -> None:
        if not texts:
            raise InvalidRequest("input must hold at least one text.", param="input")
        if len(texts) > self.max_inputs:
            raise InvalidRequest(
                f"input holds {len(texts)} texts; at most {self.max_inputs} are embedded per "
                f"request. Split it into several requests.",
                param="input",
            )
        for index, text in enumerate(texts):
            if not text.strip():
                raise InvalidRequest(
                    f"Input {index} is empty or only whitespace; every text must have content.",
                    param="input",
                )

    def most_tokens(self, texts: Sequence[str]) -> int:
        """An upper bound on the tokens ``texts`` count, without tokenizing them: a WordPiece
        token covers at least one character, plus [CLS] and [SEP]; a text over
        ``max_tokens`` is refused, so it never counts more."""
        return sum(min(len(text) + 2, self.model.max_tokens) for text in texts)

    async def embed(
        self, req: EmbeddingRequest, admission: EmbeddingAdmission | None = None
    ) -> EmbeddingResponse:
        """Embed ``req``; ``admission`` (the caller's meter) may refuse it first, and is
        told the tokens it really counted, or none if it failed."""
        if not self.serves(req.model):
            raise UnknownModel(req.model)
        texts = req.texts
        self._check_inputs(texts)
        output = OutputFormat(req.output_dimension, req.output_dtype, req.encoding_format)
        output.check(self.model.dimension)
        if admission is not None:
            most = self.most_tokens(texts)
            await admission.admit_embedding(self.id, self.aliases, req.model, most)
        started = time.perf_counter()
        try:
            rows, tokens = await self.batcher.embed(texts, output)
        except BaseException:
            if admission is not None:
                await admission.settle(_NO_USAGE)
            raise
        finally:
            add_engine_time(time.perf_counter() - started)
        usage = UsageInfo(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
        if admission is not None:
            await admission.settle(usage)
        return EmbeddingResponse(
            id=uuid.uuid4().hex,
            model=req.model,
            usage=usage,
            # Built here from arrays of one known type: validating 64 x 384 numbers again
            # would cost more than writing them.
            data=[
                EmbeddingResponseData.model_construct(embedding=row, index=i)
                for i, row in enumerate(rows)
            ],
        )

    def close(self) -> None:
        self.batcher.close()
