"""Tiny random-weight Mistral-family GGUFs, built once and cached in pytest's cache dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from autan.models.random_gguf import RandomGGUF

DENSE_V3 = RandomGGUF(tokenizer="v3")
MIXTRAL_V3 = RandomGGUF(tokenizer="v3", experts=8)
CODESTRAL_TEKKEN = RandomGGUF(tokenizer="tekken", fim=True)


def tiny_path(config: pytest.Config, spec: RandomGGUF) -> Path:
    cache = config.cache
    assert cache is not None, (
        "the tiny models are cached in pytest's cache: do not run with -p no:cacheprovider"
    )
    return spec.cached(cache.mkdir("tiny-gguf"))
