"""Which GGUFs get Mistral's prompt format, and with which tokenizer."""

from pathlib import Path

import pytest

from autan.inference.llama import LlamaModel
from autan.models.packaged import packaged_model_path
from autan.models.tokenizer_match import TokenizerMismatch, match_mistral_tokenizer


@pytest.fixture(scope="module")
def smollm2() -> LlamaModel:
    return LlamaModel(packaged_model_path())


def test_mistral_vocabularies_are_matched(dense_v3: Path, codestral_tekken: Path) -> None:
    v3 = match_mistral_tokenizer(LlamaModel(dense_v3), "auto", None)
    tekken = match_mistral_tokenizer(LlamaModel(codestral_tekken), "auto", None)
    assert v3 is not None and (v3.name, v3.version) == ("v3", "v3")
    assert tekken is not None and (tekken.name, tekken.kind) == ("tekken", "tekken")


def test_other_models_keep_their_template(smollm2: LlamaModel) -> None:
    assert match_mistral_tokenizer(smollm2, "auto", None) is None


def test_template_format_is_never_matched(dense_v3: Path) -> None:
    assert match_mistral_tokenizer(LlamaModel(dense_v3), "template", None) is None


def test_asking_for_mistral_on_another_vocabulary_fails(smollm2: LlamaModel) -> None:
    with pytest.raises(TokenizerMismatch, match=r"no \[INST\] control token"):
        match_mistral_tokenizer(smollm2, "mistral", None)


def test_a_named_tokenizer_must_have_the_gguf_ids(dense_v3: Path) -> None:
    model = LlamaModel(dense_v3)
    chosen = match_mistral_tokenizer(model, "auto", "v3")
    assert chosen is not None and chosen.name == "v3"
    with pytest.raises(TokenizerMismatch, match="131072 tokens, the GGUF has 32768"):
        match_mistral_tokenizer(model, "auto", "tekken")
    with pytest.raises(TokenizerMismatch, match="token 14 is '\\[IMG_BREAK\\]'"):
        match_mistral_tokenizer(model, "mistral", "v7")  # same size, other control tokens
    with pytest.raises(TokenizerMismatch, match="No Mistral tokenizer"):
        match_mistral_tokenizer(model, "auto", "/nowhere/tekken.json")


def test_a_newer_tekken_is_not_mistaken_for_the_packaged_one(
    dense_v11: Path, v11_tokenizer: Path
) -> None:
    model = LlamaModel(dense_v11)
    with pytest.raises(
        TokenizerMismatch, match=r"token 20 is '<SPECIAL_20>', the GGUF has '\[ARGS\]'"
    ):
        match_mistral_tokenizer(model, "auto", None)
    chosen = match_mistral_tokenizer(model, "auto", str(v11_tokenizer))
    assert chosen is not None and chosen.version == "v11"
