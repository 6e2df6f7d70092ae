"""FIM prompt tokens: Mistral's ``<s>[SUFFIX]…[PREFIX]…`` or a GGUF's own FIM tokens."""

from __future__ import annotations

from typing import Protocol

from autan.inference.engine import Engine
from autan.models.mistral_tokenizer import MistralTokenizer


class FimPrompt(Protocol):
    def tokens(self, prompt: str, suffix: str) -> list[int]: ...


class MistralFimPrompt:
    """Encoded by mistral-common: suffix first, no ``[MIDDLE]``; the suffix has no dummy space."""

    def __init__(self, tokenizer: MistralTokenizer) -> None:
        self._tokenizer = tokenizer

    def tokens(self, prompt: str, suffix: str) -> list[int]:
        from mistral_common.protocol.fim.request import FIMRequest

        encoded = self._tokenizer.inner.encode_fim(FIMRequest(prompt=prompt, suffix=suffix))
        return list(encoded.tokens)


class TokenFimPrompt:
    """Prefix-suffix-middle with the FIM tokens a GGUF declares (``tokenizer.ggml.fim_*``)."""

    def __init__(self, engine: Engine, fim: tuple[int, int, int]) -> None:
        self._engine = engine
        self._prefix, self._middle, self._suffix = fim

    def tokens(self, prompt: str, suffix: str) -> list[int]:
        engine = self._engine

        def encode(text: str) -> list[int]:
            return engine.tokenize(text, add_special=False, parse_special=False) if text else []

        bos = [engine.info.bos] if engine.info.add_bos and engine.info.bos >= 0 else []
        return [
            *bos,
            self._prefix,
            *encode(prompt),
            self._suffix,
            *encode(suffix),
            self._middle,
        ]


def fim_prompt(engine: Engine, mistral: MistralTokenizer | None) -> FimPrompt | None:
    """How this model is prompted for FIM; None when it has no FIM tokens."""
    if mistral is not None and mistral.fim_ids() is not None and engine.info.fim is not None:
        return MistralFimPrompt(mistral)
    if mistral is None and engine.info.fim is not None:
        return TokenFimPrompt(engine, engine.info.fim)
    return None
