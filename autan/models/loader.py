"""Builds the registry from settings: the models file, ``--model PATH``, or the packaged default."""

from __future__ import annotations

import logging

from autan.chat.formats import ModelFormats
from autan.inference.engine import LocalEngine
from autan.inference.llama import LlamaModel
from autan.models.card import Capabilities, ModelCard
from autan.models.footprint import Footprint
from autan.models.models_file import ModelsFile
from autan.models.packaged import (
    CODE_MODEL,
    CODE_MODEL_ALIASES,
    CODE_MODEL_NAME,
    PACKAGED_NAME,
    packaged_gguf,
)
from autan.models.registry import LoadPlan, ModelRegistry, ServedModel
from autan.models.tokenizer_match import match_mistral_tokenizer
from autan.settings import EngineSettings, Settings

log = logging.getLogger(__name__)

# Cells an embedding card is sized for until embedding models are loaded by their own engine.
_EMBEDDING_CONTEXT = 512


class LocalLoader:
    """Loads GGUF cards into ``LocalEngine``s; the card's own settings override the server's."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def plan(self, card: ModelCard) -> LoadPlan:
        if card.kind != "chat":
            path = card.gguf_path()
            size = path.stat().st_size if path.is_file() else 0
            return LoadPlan(context=card.context_length or _EMBEDDING_CONTEXT, memory_bytes=size)
        footprint = Footprint.read(card.gguf_path())
        engine = self._engine_settings(card)
        context = footprint.context_for(card.context_length or engine.context_per_sequence)
        return LoadPlan(
            context=context,
            memory_bytes=footprint.memory_bytes(context, engine.streams),
            description=card.description or footprint.description,
            fim=footprint.fim,
        )

    def _engine_settings(self, card: ModelCard, context: int | None = None) -> EngineSettings:
        """The server's engine settings with the card's own in their place."""
        return self._settings.engine.model_copy(
            update={
                k: v
                for k, v in (
                    ("parallel", card.parallel),
                    ("threads", card.threads),
                    ("context_per_sequence", context),
                )
                if v is not None
            }
        )

    def load(self, card: ModelCard, plan: LoadPlan) -> ServedModel:
        engine_settings = self._engine_settings(card, plan.context)
        if card.packaged is not None:
            packaged_gguf(card.packaged).verify()  # a joined file is hashed before it is used
        path = card.gguf_path()
        model = LlamaModel(
            path,
            verbose=self._settings.log_level == "debug",
            gpu_layers=engine_settings.gpu_layers,
        )
        try:
            mistral = match_mistral_tokenizer(model, card.format, card.tokenizer)
            if mistral is not None:
                model.show_controls(mistral.reply_markers())
            engine = LocalEngine.load(model, engine_settings, adapter=card.adapter)
        except BaseException:
            model.close()
            raise
        try:
            formats = ModelFormats.for_model(engine, mistral)
        except BaseException:
            engine.close()
            raise
        log.info(
            "loaded %s (%s) as %s: %d slots (%d for batch lines) x %d tokens, %d threads",
            path.name,
            model.info.description,
            card.id,
            engine_settings.parallel,
            engine_settings.batch_sequences,
            engine.context,
            engine_settings.threads,
        )
        return ServedModel(
            id=card.id,
            engine=engine,
            formats=formats,
            aliases=list(card.aliases),
            description=plan.description,
            mistral_tokenizer=mistral,
            workspace=card.workspace,
        )


def declared_cards(settings: Settings) -> list[ModelCard]:
    """``--model PATH`` alone if given; else the models file; else the packaged default, and
    beside it the packaged code model when it is installed (``make code-model``).

    The single-model configurations load their model at start, so the server is ready at once;
    the code model loads on first use.
    """
    single = {
        "id": settings.model.id,
        "aliases": settings.model.aliases,
        "format": settings.model.format,
        "tokenizer": settings.model.tokenizer,
        "preload": True,
    }
    if settings.model.path is not None:
        if "id" not in settings.model.model_fields_set:  # name it after its file
            single["id"] = ModelCard.id_for(settings.model.path)
        return [ModelCard.model_validate({**single, "path": settings.model.path})]
    cards = ModelsFile(settings.models_path).read()
    if cards:
        return cards
    default = ModelCard.model_validate({**single, "packaged": PACKAGED_NAME})
    if not CODE_MODEL.installed():
        return [default]
    return [default, code_model_card(taken=default.names)]


def code_model_card(taken: tuple[str, ...] = ()) -> ModelCard:
    """The packaged code model: Qwen2.5-Coder-0.5B-Instruct, for chat and FIM, under its id
    and the alias Codestral has on La Plateforme (unless ``taken`` by the default model)."""
    return ModelCard(
        id=CODE_MODEL_NAME,
        aliases=tuple(a for a in CODE_MODEL_ALIASES if a not in taken),
        packaged=CODE_MODEL_NAME,
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
        capabilities=Capabilities(completion_chat=True, function_calling=True, completion_fim=True),
    )


def load_registry(settings: Settings, cards: list[ModelCard] | None = None) -> ModelRegistry:
    """The registry of the models this server loads itself (routed models are the router's)."""
    cards = declared_cards(settings) if cards is None else cards
    return ModelRegistry(
        [c for c in cards if not c.routed],
        LocalLoader(settings),
        max_loaded_memory=settings.max_loaded_memory,
    )
