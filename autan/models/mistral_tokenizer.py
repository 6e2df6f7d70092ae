"""Mistral's tokenizers (mistral-common): the packaged files, and what prompts need of them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

# The tokenizer files that ship inside the mistral-common wheel, by the names autan uses.
PACKAGED: dict[str, str] = {
    "v1": "tokenizer.model.v1",
    "v2": "mistral_instruct_tokenizer_240216.model.v2",
    "v3": "mistral_instruct_tokenizer_240323.model.v3",  # Mistral 7B v0.3, Mixtral 8x22B
    "v7": "mistral_instruct_tokenizer_241114.model.v7",  # Mistral Large 2411
    "tekken": "tekken_240911.json",  # Mistral NeMo, Pixtral
    "tekken-240718": "tekken_240718.json",
}


class TokenizerNotFound(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MistralTokenizer:
    """A loaded mistral-common tokenizer and the control ids prompts and outputs need."""

    name: str
    path: Path
    inner: Any  # mistral_common's MistralTokenizer
    kind: str  # "spm" (SentencePiece) or "tekken"
    version: str  # the instruct version: "v1" ... "v13"
    n_words: int

    @staticmethod
    def path_of(name: str) -> Path:
        """A packaged tokenizer by name, or a tokenizer file on disk."""
        if name in PACKAGED:
            return Path(str(resources.files("mistral_common") / "data" / PACKAGED[name]))
        path = Path(name).expanduser()
        if not path.is_file():
            raise TokenizerNotFound(
                f"No Mistral tokenizer {name!r}: give one of {', '.join(PACKAGED)} "
                "or the path of a tekken.json / tokenizer.model.vN file"
            )
        return path

    @staticmethod
    def load(name: str) -> MistralTokenizer:
        return _load(str(MistralTokenizer.path_of(name)), name)

    @property
    def raw(self) -> Any:
        """The underlying text tokenizer (SentencePiece or Tekken) of mistral-common."""
        return self.inner.instruct_tokenizer.tokenizer

    def control(self, piece: str) -> int | None:
        """Id of a control token such as ``[TOOL_CALLS]``, or None where this version lacks it.

        SentencePiece files answer 0 (``<unk>``) for a missing piece; Tekken raises.
        """
        lookup = getattr(self.raw, "get_special_token", None) or self.raw.get_control_token
        try:
            token = int(lookup(piece))
        except (ValueError, KeyError):
            return None
        return token if token > 0 else None

    def fim_ids(self) -> tuple[int, int, int] | None:
        """(``[PREFIX]``, ``[MIDDLE]``, ``[SUFFIX]``), or None for a tokenizer without FIM."""
        ids = [self.control(p) for p in ("[PREFIX]", "[MIDDLE]", "[SUFFIX]")]
        if None in ids or self.version in ("v1", "v2"):
            return None
        prefix, middle, suffix = ids
        assert prefix is not None and middle is not None and suffix is not None
        return prefix, middle, suffix

    def reply_markers(self) -> list[int]:
        """Control tokens a reply's text must show so that its tool calls can be read back."""
        ids = [self.control(p) for p in ("[TOOL_CALLS]", "[ARGS]", "[CALL_ID]")]
        return [t for t in ids if t is not None]

    @property
    def template_name(self) -> str:
        """The name llama.cpp's converter writes as ``tokenizer.chat_template`` for this file."""
        if self.version == "v1":
            return "mistral-v1"
        base = "mistral-v7" if self.version_number >= 7 else "mistral-v3"
        return f"{base}-tekken" if self.kind == "tekken" else base

    @property
    def version_number(self) -> int:
        return int(self.version.lstrip("v"))


@functools.cache
def _load(path: str, name: str) -> MistralTokenizer:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer as _Inner
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    inner = _Inner.from_file(path)
    raw = inner.instruct_tokenizer.tokenizer
    return MistralTokenizer(
        name=name,
        path=Path(path),
        inner=inner,
        kind="tekken" if isinstance(raw, Tekkenizer) else "spm",
        version=str(raw.version.value),
        n_words=int(raw.n_words),
    )
