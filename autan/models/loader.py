"""Builds the served models from settings: the packaged default, or a GGUF given by path."""

from __future__ import annotations

import logging

from autan.inference.engine import LocalEngine
from autan.inference.llama import LlamaModel
from autan.models.packaged import packaged_model_path
from autan.models.registry import ModelRegistry, ServedModel
from autan.models.tokenizer_match import match_mistral_tokenizer
from autan.settings import Settings

log = logging.getLogger(__name__)


def load_registry(settings: Settings) -> ModelRegistry:
    path = settings.model.path or packaged_model_path()
    model = LlamaModel(path, verbose=settings.log_level == "debug")
    mistral = match_mistral_tokenizer(model, settings.model.format, settings.model.tokenizer)
    if mistral is not None:
        model.show_controls(mistral.reply_markers())
    engine = LocalEngine.load(model, settings.engine)
    log.info(
        "loaded %s (%s) as %s: %d slots x %d tokens, %d threads",
        path.name,
        model.info.description,
        settings.model.id,
        settings.engine.parallel,
        engine.context,
        settings.engine.threads,
    )
    return ModelRegistry(
        [
            ServedModel(
                id=settings.model.id,
                engine=engine,
                aliases=list(settings.model.aliases),
                description=model.info.description,
                mistral_tokenizer=mistral,
            )
        ]
    )
