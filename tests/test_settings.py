from pathlib import Path

import pytest
from pydantic import ValidationError

from autan.settings import EngineSettings, Settings, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("8GiB", 8 * 1024**3),
        ("512MiB", 512 * 1024**2),
        ("2G", 2 * 1024**3),
        ("1.5GB", 1_500_000_000),
        ("100kB", 100_000),
        ("4096", 4096),
        (" 3 gib ", 3 * 1024**3),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_a_bad_size_is_refused_with_an_example() -> None:
    with pytest.raises(ValidationError, match="write it like 8GiB"):
        Settings(max_loaded_memory="lots")  # type: ignore[arg-type]


def test_models_file_defaults_to_the_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTAN_DATA_DIR", "/srv/autan")
    monkeypatch.setenv("AUTAN_MAX_LOADED_MEMORY", "6GiB")
    settings = Settings()
    assert settings.models_path == Path("/srv/autan/models.toml")
    assert settings.max_loaded_memory == 6 * 1024**3
    assert Settings(models_file=Path("/etc/m.toml")).models_path == Path("/etc/m.toml")


@pytest.mark.parametrize(
    ("fields", "batch", "streams"),
    [
        ({}, 8, 9),  # every slot of --parallel, and the interactive reserve
        ({"interactive_reserve": 0}, 7, 8),  # all but one: interactive always finds a slot
        ({"batch_slots": 4}, 4, 9),
        ({"batch_slots": 16}, 16, 17),  # extra streams that only batch lines use
        ({"batch_slots": 16, "interactive_reserve": 0}, 16, 16),
    ],
)
def test_batch_sequences_and_kv_streams(fields: dict[str, int], batch: int, streams: int) -> None:
    engine = EngineSettings(parallel=8, **fields)
    assert (engine.batch_sequences, engine.streams) == (batch, streams)


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"host": "0.0.0.0", "port": 9000}, "http://127.0.0.1:9000"),
        ({"host": "::"}, "http://[::1]:8000"),
        ({"host": "llm.internal"}, "http://llm.internal:8000"),
        (
            {"files": {"public_url": "https://llm.example.com/autan/"}},
            "https://llm.example.com/autan",
        ),
    ],
)
def test_the_public_url_is_the_configured_one_or_the_address_served(
    fields: dict[str, object], url: str
) -> None:
    assert Settings.model_validate(fields).public_url == url


def test_a_public_url_must_be_an_http_url() -> None:
    for bad in ("llm.example.com", "ftp://x", "https://a b", "https://h/?q"):
        with pytest.raises(ValidationError):
            Settings.model_validate({"files": {"public_url": bad}})


def test_metrics_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValidationError, match="needs API keys"):
        Settings(no_auth=True, metrics={"auth": "admin"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="is the API port"):
        Settings(port=9000, metrics={"port": 9000})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(metrics={"auth": "anyone"})  # type: ignore[arg-type]
