"""The models file: round trip, defaults, and errors that name the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from autan.errors import ModelsFileError
from autan.models.card import ModelCard
from autan.models.models_file import ModelsFile


def _gguf(folder: Path, name: str = "m.gguf") -> Path:
    path = folder / name
    path.write_bytes(b"GGUF")
    return path


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    gguf = _gguf(tmp_path)
    cards = [
        ModelCard.model_validate(
            {
                "id": "local-7b",
                "aliases": ["open-mistral-7b", "mistral-tiny"],
                "path": gguf,
                "format": "mistral",
                "tokenizer": "tekken.json",
                "context_length": 8192,
                "price_input": 0.25,
                "price_output": 0.75,
                "parallel": 2,
                "threads": 4,
                "preload": True,
                "capabilities": {"completion_fim": True, "function_calling": False},
            }
        ),
        ModelCard(id="small", packaged="smollm2-135m-instruct"),
    ]
    file = ModelsFile(tmp_path / "sub" / "models.toml")
    file.write(cards)
    assert file.read() == cards
    text = file.path.read_text()
    assert "[[models]]" in text
    assert 'packaged = "smollm2-135m-instruct"' in text
    # only what differs from a chat model's defaults is written
    assert "completion_chat" not in text and "completion_fim = true" in text


def test_chat_models_chat_and_call_functions_by_default() -> None:
    caps = ModelCard(id="x", packaged="smollm2-135m-instruct").capabilities
    assert caps.completion_chat and caps.function_calling
    assert not (caps.completion_fim or caps.fine_tuning or caps.vision or caps.classification)
    embed = ModelCard(id="e", packaged="smollm2-135m-instruct", kind="embedding").capabilities
    assert not embed.completion_chat and not embed.function_calling


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    _gguf(tmp_path, "weights.gguf")
    file = ModelsFile(tmp_path / "models.toml")
    file.path.write_text('[[models]]\nid = "w"\npath = "weights.gguf"\n')
    (card,) = file.read()
    assert card.path == tmp_path / "weights.gguf"
    assert card.format == "auto" and card.kind == "chat" and card.price_input == 0.0


def test_an_absent_file_declares_nothing(tmp_path: Path) -> None:
    assert ModelsFile(tmp_path / "none.toml").read() == []


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[[models]]\nid = "a"\npackaged = "smollm2-135m-instruct"\ncolour = "red"\n',
            "model 'a': unknown key 'colour'",
        ),
        (
            '[[models]]\nid = "a"\n',
            "model 'a': give exactly one of `path` (a GGUF file), `packaged`, or `deployments`",
        ),
        ('[[models]]\nid = "a"\npath = "missing.gguf"\n', "model 'a': no GGUF file at"),
        ('[[models]]\npackaged = "smollm2-135m-instruct"\n', "model #1: id: Field required"),
        ('[[models]]\nid = "a"\npackaged = "gpt-5"\n', "no packaged model is called 'gpt-5'"),
        (
            '[[models]]\nid = "a"\npackaged = "smollm2-135m-instruct"\nformat = "chatml"\n',
            "model 'a': format: Input should be 'auto', 'template' or 'mistral'",
        ),
        (
            '[[models]]\nid = "a"\npackaged = "smollm2-135m-instruct"\n'
            "[models.capabilities]\nteleport = true\n",
            "unknown key 'capabilities.teleport'",
        ),
        (
            '[[models]]\nid = "a"\npackaged = "smollm2-135m-instruct"\naliases = ["x"]\n'
            '[[models]]\nid = "b"\npackaged = "smollm2-135m-instruct"\naliases = ["x"]\n',
            "model 'b': the name 'x' is already used by model 'a'",
        ),
        (
            '[[models]]\nid = "a"\npackaged = "smollm2-135m-instruct"\n'
            '[[models]]\nid = "a"\npackaged = "smollm2-135m-instruct"\n',
            "model 'a': the name 'a' is already used by model 'a'",
        ),
        ("[server]\nport = 1\n", "unknown top-level key 'server'"),
        ("[[models]\n", "cannot read it as TOML"),
    ],
)
def test_errors_name_the_file_and_the_entry(tmp_path: Path, toml: str, message: str) -> None:
    file = ModelsFile(tmp_path / "models.toml")
    file.path.write_text(toml)
    with pytest.raises(ModelsFileError) as e:
        file.read()
    assert str(e.value).startswith(f"{file.path}: ")
    assert message in str(e.value)


def test_add_refuses_a_taken_name_and_remove_an_unknown_id(tmp_path: Path) -> None:
    file = ModelsFile(tmp_path / "models.toml")
    file.add(ModelCard(id="a", aliases=("x",), packaged="smollm2-135m-instruct"))
    with pytest.raises(ModelsFileError, match="the name 'x' is already used by model 'a'"):
        file.add(ModelCard(id="x", packaged="smollm2-135m-instruct"))
    with pytest.raises(ModelsFileError, match=r"no model has the id 'b' \(declared: a\)"):
        file.remove("b")
    assert file.remove("a").id == "a"
    assert file.read() == []


def test_a_routed_model_takes_deployments_and_no_weights(tmp_path: Path) -> None:
    file = tmp_path / "models.toml"
    file.write_text(
        '[[models]]\nid = "r"\nfallbacks = ["other"]\n'
        '[[models.deployments]]\nbackend = "mistral"\nurl = "https://api.mistral.ai"\n'
        'upstream_model = "mistral-small-latest"\napi_key_env = "MISTRAL_API_KEY"\n'
    )
    (card,) = ModelsFile(file).read()
    assert card.routed and card.deployments[0].name == (
        "mistral:api.mistral.ai/mistral-small-latest"
    )
    file.write_text(
        '[[models]]\nid = "r"\npackaged = "smollm2-135m-instruct"\n'
        '[[models.deployments]]\nbackend = "openai"\nurl = "http://x/v1"\nupstream_model = "m"\n'
    )
    with pytest.raises(ModelsFileError, match="routed: it takes no `path` nor `packaged`"):
        ModelsFile(file).read()
    file.write_text(
        '[[models]]\nid = "r"\n'
        '[[models.deployments]]\nbackend = "grpc"\nurl = "http://x/v1"\nupstream_model = "m"\n'
    )
    with pytest.raises(ModelsFileError, match="backend"):
        ModelsFile(file).read()
