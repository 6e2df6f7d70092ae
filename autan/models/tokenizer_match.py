"""Which prompt format a GGUF gets: its Jinja template, or Mistral's tokenizer via mistral-common.

A GGUF does not carry mistral-common's tokenizer file, so a Mistral model is recognised by its
vocabulary (``[INST]``/``[/INST]`` control tokens, or the Tekken pre-tokenizer) and paired with
the packaged tokenizer whose ids are the same. A model file can name the tokenizer instead.
"""

from __future__ import annotations

import logging

from autan.inference.llama import LlamaModel
from autan.models.card import DeclaredFormat
from autan.models.mistral_tokenizer import MistralTokenizer, TokenizerNotFound

log = logging.getLogger(__name__)

# Checked in order: the newest version of each family first.
_CANDIDATES = {"spm": ("v7", "v3", "v2"), "tekken": ("tekken", "tekken-240718")}
_PROBE = 'Fill-in 12 + 7 = 19; café naïve 東京 ("quoted")\n\tdef f(x): return x**2'
_SPECIALS_CHECKED = 20  # SentencePiece versions differ within their first 20 control tokens


class TokenizerMismatch(ValueError):
    pass


def match_mistral_tokenizer(
    model: LlamaModel, fmt: DeclaredFormat, tokenizer: str | None
) -> MistralTokenizer | None:
    """The Mistral tokenizer this model's prompts are built with, or None for its template.

    ``fmt`` "template" never matches; "mistral" must match (or raise); "auto" matches when
    the vocabulary looks like Mistral's and one packaged tokenizer has exactly its ids.
    """
    if fmt == "template":
        return None
    if tokenizer is not None:
        try:
            chosen = MistralTokenizer.load(tokenizer)
        except TokenizerNotFound as e:
            raise TokenizerMismatch(str(e)) from e
        problem = _mismatch(model, chosen)
        if problem:
            raise TokenizerMismatch(f"tokenizer {tokenizer!r} does not fit this GGUF: {problem}")
        return chosen
    family = _family(model)
    if family is None:
        if fmt == "mistral":
            raise TokenizerMismatch(
                "format 'mistral' was asked for, but this GGUF's vocabulary has no [INST] "
                "control token: set `tokenizer` to its tekken.json or tokenizer.model.vN file"
            )
        return None
    problems = []
    for name in _CANDIDATES[family]:
        candidate = MistralTokenizer.load(name)
        problem = _mismatch(model, candidate)
        if problem is None:
            log.info("%s: Mistral tokenizer %s (%s)", model.info.path.name, name, candidate.version)
            return candidate
        problems.append(f"{name}: {problem}")
    message = (
        "this GGUF has a Mistral vocabulary, but no packaged tokenizer has its ids "
        f"({'; '.join(problems)}); set `tokenizer` to the model's own tokenizer file"
    )
    template = model.info.chat_template or ""
    if fmt == "mistral" or "{%" not in template:  # no Jinja template to fall back on
        raise TokenizerMismatch(message)
    log.warning("%s: %s. Falling back to its chat template.", model.info.path.name, message)
    return None


def _family(model: LlamaModel) -> str | None:
    meta = model.info.metadata
    if meta.get("tokenizer.ggml.pre") == "tekken":
        return "tekken"
    spm = meta.get("tokenizer.ggml.model") == "llama" and model.n_vocab > 4
    if spm and (model.special_piece(3), model.special_piece(4)) == ("[INST]", "[/INST]"):
        return "spm"
    return None


def _mismatch(model: LlamaModel, tok: MistralTokenizer) -> str | None:
    """Why ``tok`` cannot stand for this model's vocabulary, or None when the ids agree."""
    if tok.n_words != model.n_vocab:
        return f"{tok.n_words} tokens, the GGUF has {model.n_vocab}"
    # Tekken versions share their first specials and differ after them ([ARGS] from v11 on).
    checked = tok.raw.num_special_tokens if tok.kind == "tekken" else _SPECIALS_CHECKED
    for i in range(min(checked, tok.n_words)):
        ours, theirs = model.special_piece(i), tok.raw.id_to_piece(i)
        if ours != theirs:
            return f"token {i} is {theirs!r}, the GGUF has {ours!r}"
    expected = tok.raw.encode(_PROBE, bos=False, eos=False)
    # SentencePiece: mistral-common always adds the dummy space; the GGUF may not.
    for text in (_PROBE, " " + _PROBE):
        if model.tokenize(text, add_special=False, parse_special=False) == expected:
            return None
    return "the same text tokenizes to different ids"
