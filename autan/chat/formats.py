"""How one loaded model is prompted, built once when it loads and held by its ``ServedModel``."""

from __future__ import annotations

from dataclasses import dataclass

from autan.chat.mistral_prompt import MistralPrompt
from autan.chat.prompt import PromptFormat
from autan.chat.template import ChatTemplate
from autan.chat.template_prompt import TemplatePrompt
from autan.fim.prompt import FimPrompt, fim_prompt
from autan.inference.engine import Engine
from autan.models.mistral_tokenizer import MistralTokenizer


@dataclass(frozen=True, slots=True)
class ModelFormats:
    """The chat format, and the FIM prompt when the model has FIM tokens (else None)."""

    chat: PromptFormat
    fim: FimPrompt | None

    @classmethod
    def for_model(cls, engine: Engine, mistral: MistralTokenizer | None) -> ModelFormats:
        """Mistral-tokenizer models are prompted by mistral-common; others by their template."""
        chat: PromptFormat
        if mistral is not None:
            chat = MistralPrompt(mistral)
        else:
            info = engine.info
            template = ChatTemplate(
                info.chat_template, bos_text=info.bos_text, eos_text=info.eos_text
            )
            chat = TemplatePrompt(engine, template)
        return cls(chat=chat, fim=fim_prompt(engine, mistral))
