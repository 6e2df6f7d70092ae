"""``autan models add/list/remove`` on a temporary models file, with the real packaged GGUF."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from autan.cli.main import app
from autan.models.models_file import ModelsFile
from autan.models.packaged import packaged_model_path

runner = CliRunner()


def _models(file: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["models", *args, "--models-file", str(file)])
    return result.exit_code, result.output


def test_add_list_remove(tmp_path: Path) -> None:
    file = tmp_path / "models.toml"
    gguf = str(packaged_model_path())
    code, out = _models(
        file, "add", gguf, "--alias", "mistral-small-latest", "--price-input", "0.1",
        "--price-output", "0.3", "--parallel", "2", "--capability", "completion_chat",
        "--capability", "completion_fim", "--preload",
    )  # fmt: skip
    assert code == 0, out
    (card,) = ModelsFile(file).read()
    # the id comes from the file name, the context from the GGUF's 8k, capped at 4096
    assert card.id == "smollm2-135m-instruct"
    assert card.path == Path(gguf) and card.context_length == 4096
    assert card.aliases == ("mistral-small-latest",)
    assert (card.price_input, card.price_output, card.parallel, card.preload) == (0.1, 0.3, 2, True)
    assert card.capabilities.completion_fim and not card.capabilities.function_calling
    added, reload = out.strip().splitlines()
    assert added == f"added smollm2-135m-instruct to {file}"
    assert reload.startswith("A running autan serve on this models file serves it")

    code, out = _models(
        file, "add", "smollm2-135m-instruct", "--id", "tiny", "--context-length", "512"
    )
    assert code == 0, out
    tiny = ModelsFile(file).read()[1]
    assert tiny.packaged == "smollm2-135m-instruct" and tiny.context_length == 512
    assert tiny.capabilities.completion_chat and tiny.capabilities.function_calling

    code, out = _models(file, "list")
    assert code == 0, out
    header, first, second = out.splitlines()
    assert header.split()[:3] == ["ID", "ALIASES", "SOURCE"]
    assert first.split()[:3] == ["smollm2-135m-instruct", "mistral-small-latest", gguf]
    assert second.split()[:3] == ["tiny", "-", "packaged:smollm2-135m-instruct"]

    code, out = _models(file, "remove", "smollm2-135m-instruct")
    assert code == 0 and "removed smollm2-135m-instruct" in out
    assert [c.id for c in ModelsFile(file).read()] == ["tiny"]


def test_add_refuses_what_is_not_a_gguf(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    code, out = _models(tmp_path / "models.toml", "add", str(text))
    assert code == 1
    assert f"{text} is not a GGUF file" in out
    code, out = _models(tmp_path / "models.toml", "add", str(tmp_path / "absent.gguf"))
    assert code == 1 and "cannot read" in out
    assert not (tmp_path / "models.toml").exists()


def test_add_refuses_a_taken_name_and_an_unknown_capability(tmp_path: Path) -> None:
    file = tmp_path / "models.toml"
    assert _models(file, "add", "smollm2-135m-instruct", "--id", "a")[0] == 0
    code, out = _models(file, "add", "smollm2-135m-instruct", "--id", "b", "--alias", "a")
    assert code == 1 and "the name 'a' is already used by model 'a'" in out
    code, out = _models(file, "add", "smollm2-135m-instruct", "--capability", "telepathy")
    assert code == 1 and "unknown capability 'telepathy'" in out
    code, out = _models(file, "remove", "zzz")
    assert code == 1 and "no model has the id 'zzz' (declared: a)" in out


def test_list_without_a_file_shows_what_serve_serves(tmp_path: Path) -> None:
    code, out = _models(tmp_path / "none.toml", "list")
    assert code == 0, out
    assert out.startswith(f"no models declared in {tmp_path / 'none.toml'}; autan serve serves:")
    assert "smollm2-135m-instruct" in out and "mistral-small-latest" in out


def test_add_a_routed_model_and_its_replicas(tmp_path: Path) -> None:
    file = tmp_path / "models.toml"
    code, out = _models(
        file, "add", "qwen", "--backend", "openai", "--url", "http://gpu-1:8000/v1",
        "--upstream-model", "Qwen/Qwen2.5-7B", "--api-key-env", "VLLM_KEY", "--max-concurrent",
        "32", "--fallback", "smollm2-135m-instruct",
    )  # fmt: skip
    assert code == 0, out
    assert "a running server picks it up" in out
    code, out = _models(
        file, "add", "qwen", "--backend", "openai", "--url", "http://gpu-2:8000/v1",
        "--upstream-model", "Qwen/Qwen2.5-7B",
    )  # fmt: skip
    assert code == 0, out
    (card,) = ModelsFile(file).read()
    assert card.routed and card.fallbacks == ("smollm2-135m-instruct",)
    assert [d.url for d in card.deployments] == ["http://gpu-1:8000/v1", "http://gpu-2:8000/v1"]
    assert card.deployments[0].api_key_env == "VLLM_KEY"
    assert card.deployments[0].max_concurrent == 32
    text = file.read_text()
    assert "VLLM_KEY" in text and "Bearer" not in text

    code, out = _models(
        file, "add", "qwen", "--backend", "openai", "--url", "http://gpu-2:8000/v1",
        "--upstream-model", "Qwen/Qwen2.5-7B",
    )  # fmt: skip
    assert code == 1 and "already has the deployment" in out
    code, out = _models(file, "add", "qwen", "--backend", "mistral", "--url", "ftp://x")
    assert code == 1 and "--upstream-model" in out
    code, out = _models(
        file, "add", "qwen", "--backend", "mistral", "--url", "ftp://x", "--upstream-model", "m"
    )
    assert code == 1 and "url" in out
    code, out = _models(file, "list")
    assert "openai:gpu-1:8000/v1/Qwen/Qwen2.5-7B" in out
