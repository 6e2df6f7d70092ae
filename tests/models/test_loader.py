"""Which models a configuration declares, and loading the real packaged model."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from autan.models import loader as loader_module
from autan.models.card import ModelCard
from autan.models.footprint import Footprint
from autan.models.loader import LocalLoader, declared_cards, load_registry
from autan.models.models_file import ModelsFile
from autan.models.packaged import (
    CODE_MODEL_NAME,
    PACKAGED_MODELS,
    PackagedModelCorrupt,
    SplitGguf,
    packaged_model_path,
)
from autan.models.registry import LoadPlan
from autan.settings import EngineSettings, ModelSettings, Settings


def _settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings.model_validate({"data_dir": tmp_path, **fields})


def _code_model(directory: Path, installed: bool) -> SplitGguf:
    """A stand-in for the code model, joined into ``directory`` or not."""
    fake = SplitGguf("code.gguf", (), 4, hashlib.sha256(b"GGUF").hexdigest(), "join it", directory)
    if installed:
        fake.target.write_bytes(b"GGUF")
    return fake


def test_without_a_models_file_the_packaged_model_is_served_under_mistral_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader_module, "CODE_MODEL", _code_model(tmp_path, installed=False))
    (card,) = declared_cards(_settings(tmp_path))
    assert card.id == "smollm2-135m-instruct" and card.packaged == "smollm2-135m-instruct"
    assert "mistral-small-latest" in card.aliases and card.preload


def test_the_installed_code_model_is_served_beside_the_packaged_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader_module, "CODE_MODEL", _code_model(tmp_path, installed=True))
    default, code = declared_cards(_settings(tmp_path))
    assert default.id == "smollm2-135m-instruct" and default.preload
    assert (code.id, code.packaged) == (CODE_MODEL_NAME, CODE_MODEL_NAME)
    assert code.aliases == ("codestral-latest",) and not code.preload  # loaded on first use
    assert code.capabilities.completion_fim and code.capabilities.function_calling
    # an alias the default model already answers to stays with it
    settings = _settings(tmp_path, model=ModelSettings(aliases=["codestral-latest"]))
    assert declared_cards(settings)[1].aliases == ()


def test_a_models_file_or_a_model_path_leaves_the_code_model_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader_module, "CODE_MODEL", _code_model(tmp_path, installed=True))
    settings = _settings(tmp_path, model=ModelSettings(path=packaged_model_path()))
    assert [c.id for c in declared_cards(settings)] == ["smollm2-135m-instruct"]
    ModelsFile(tmp_path / "models.toml").write(
        [ModelCard(id="a", packaged="smollm2-135m-instruct")]
    )
    assert [c.id for c in declared_cards(_settings(tmp_path))] == ["a"]


def test_a_joined_file_that_is_not_the_published_one_is_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _code_model(tmp_path, installed=True)
    fake.target.write_bytes(b"GGUG")  # the published size, another sha256
    monkeypatch.setitem(PACKAGED_MODELS, CODE_MODEL_NAME, fake)
    card = ModelCard(id="code", packaged=CODE_MODEL_NAME)
    with pytest.raises(PackagedModelCorrupt, match=r"sha256 .* refused; join it") as e:
        LocalLoader(_settings(tmp_path)).load(card, LoadPlan(context=64, memory_bytes=0))
    # an OSError: the registry answers it as 503 model_load_failed with this message
    assert isinstance(e.value, OSError)


def test_the_models_file_declares_the_models(tmp_path: Path) -> None:
    ModelsFile(tmp_path / "models.toml").write(
        [ModelCard(id="a", packaged="smollm2-135m-instruct")]
    )
    assert [c.id for c in declared_cards(_settings(tmp_path))] == ["a"]


def test_model_path_serves_that_gguf_alone(tmp_path: Path) -> None:
    ModelsFile(tmp_path / "models.toml").write(
        [ModelCard(id="a", packaged="smollm2-135m-instruct")]
    )
    gguf = packaged_model_path()
    settings = _settings(tmp_path, model=ModelSettings(path=gguf, id="mine", aliases=[]))
    (card,) = declared_cards(settings)
    assert (card.id, card.path, card.preload) == ("mine", gguf, True)


def test_plan_sizes_weights_and_kv_cache_from_the_card(tmp_path: Path) -> None:
    settings = _settings(tmp_path, engine=EngineSettings(parallel=8, context_per_sequence=4096))
    loader = LocalLoader(settings)
    fp = Footprint.read(packaged_model_path())
    default = loader.plan(ModelCard(id="a", packaged="smollm2-135m-instruct"))
    assert default.context == 4096
    # eight slots and the interactive reserve
    assert default.memory_bytes == fp.file_bytes + fp.kv_bytes_per_cell * 4096 * (8 + 1)
    own = loader.plan(
        ModelCard(id="b", packaged="smollm2-135m-instruct", context_length=512, parallel=2)
    )
    assert own.context == 512
    assert own.memory_bytes == fp.file_bytes + fp.kv_bytes_per_cell * 512 * (2 + 1)
    assert own.description is not None and "135M" in own.description


def test_plan_sizes_the_kv_streams_only_batch_lines_use(tmp_path: Path) -> None:
    engine = EngineSettings(parallel=4, batch_slots=12, context_per_sequence=1024)
    plan = LocalLoader(_settings(tmp_path, engine=engine)).plan(
        ModelCard(id="a", packaged="smollm2-135m-instruct")
    )
    fp = Footprint.read(packaged_model_path())
    assert plan.memory_bytes == fp.file_bytes + fp.kv_bytes_per_cell * 1024 * (12 + 1)


@pytest.mark.model
def test_loads_the_packaged_model_with_the_card_settings(tmp_path: Path) -> None:
    engine = EngineSettings(parallel=2, context_per_sequence=512, threads=1)
    registry = load_registry(_settings(tmp_path, engine=engine))

    async def go() -> tuple[int, int, str, bool]:
        async with registry.acquire("mistral-small-latest") as model:
            mistral = model.mistral_tokenizer is not None
            return model.engine.context, model.engine.stats().slots, model.id, mistral

    try:
        assert asyncio.run(go()) == (512, 2, "smollm2-135m-instruct", False)
    finally:
        registry.close()


def test_a_gguf_with_fim_tokens_plans_fim(codestral_tekken: Path, dense_v3: Path) -> None:

    loader = LocalLoader(Settings())
    assert loader.plan(ModelCard(id="c", path=codestral_tekken)).fim is True
    assert loader.plan(ModelCard(id="m", path=dense_v3)).fim is False
