"""Tiny random-weight Mistral-family GGUFs, built once and cached in pytest's cache dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autan.models.mistral_tokenizer import MistralTokenizer
from tests.random_gguf import RandomGGUF

DENSE_V3 = RandomGGUF(tokenizer="v3")
MIXTRAL_V3 = RandomGGUF(tokenizer="v3", experts=8)
CODESTRAL_TEKKEN = RandomGGUF(tokenizer="tekken", fim=True)


def cache_dir(config: pytest.Config) -> Path:
    cache = config.cache
    assert cache is not None, "tiny models live in pytest's cache: keep the cacheprovider plugin"
    return cache.mkdir("tiny-gguf")


def tiny_path(config: pytest.Config, spec: RandomGGUF) -> Path:
    return spec.cached(cache_dir(config))


def v11_tekken(directory: Path) -> Path:
    """A Tekken v11 tokenizer file (the syntax of Mistral Small 3.2 and later).

    mistral-common ships none, so this one is the packaged 240911 vocabulary declared as v11,
    with the ``[ARGS]`` and ``[CALL_ID]`` tokens that version's tool calls are written with.
    """
    path = directory / "tekken-v11" / "tekken.json"
    if path.exists():
        return path
    data = json.loads(MistralTokenizer.path_of("tekken").read_text())
    names = [
        "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
        "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]",
        "[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
        "[TOOL_CONTENT]", "[ARGS]", "[CALL_ID]",
    ]  # fmt: skip
    data["config"]["version"] = "v11"
    data["special_tokens"] = [
        {"rank": i, "token_str": name, "is_control": True} for i, name in enumerate(names)
    ]
    data.pop("image", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return path
