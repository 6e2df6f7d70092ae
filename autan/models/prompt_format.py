"""Which prompt format a served model uses, from what its card declares."""

from __future__ import annotations

from typing import Literal

from autan.inference.model_info import ModelInfo
from autan.models.card import DeclaredFormat

PromptFormat = Literal["template", "mistral"]


def resolve_format(declared: DeclaredFormat, info: ModelInfo) -> PromptFormat:
    """The format chat requests are encoded with.

    ``auto`` will look at the GGUF's metadata (a Mistral tokenizer means ``mistral``); until
    that detection exists, ``auto`` means the GGUF's own chat template.
    """
    if declared == "auto":
        return "template"
    return declared
