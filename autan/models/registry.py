"""The models this server serves, by id and alias."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from autan.errors import UnknownModel
from autan.inference.engine import Engine
from autan.models.mistral_tokenizer import MistralTokenizer


@dataclass(slots=True)
class ServedModel:
    """A loaded model: its names, its engine and what its card says."""

    id: str
    engine: Engine
    aliases: list[str] = field(default_factory=list)
    description: str | None = None
    # Set for models with a Mistral tokenizer: their prompts are built by mistral-common.
    mistral_tokenizer: MistralTokenizer | None = None
    default_temperature: float = 0.7
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def max_context_length(self) -> int:
        return self.engine.context


class ModelRegistry:
    """Resolves a requested name (id or alias) to the model that serves it."""

    def __init__(self, models: list[ServedModel] | None = None) -> None:
        self._models: list[ServedModel] = []
        self._by_name: dict[str, ServedModel] = {}
        for m in models or []:
            self.add(m)

    def add(self, model: ServedModel) -> None:
        for name in (model.id, *model.aliases):
            if name in self._by_name:
                raise ValueError(f"model name {name!r} is served twice")
            self._by_name[name] = model
        self._models.append(model)

    def resolve(self, name: str) -> ServedModel:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownModel(name) from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._models)

    def close(self) -> None:
        for m in self._models:
            m.engine.close()
