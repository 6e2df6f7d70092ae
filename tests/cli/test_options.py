import pytest
from pydantic import ValidationError

from autan.cli.options import build_settings


def test_embeddings_are_on_by_default_and_the_flag_turns_them_off() -> None:
    assert build_settings().embeddings.enabled is True
    settings = build_settings(embeddings=False, threads=1)
    assert settings.embeddings.enabled is False
    assert settings.embeddings.aliases == ["mistral-embed"]
    assert settings.engine.threads == 1


def test_embedding_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTAN_EMBEDDINGS__ENABLED", "false")
    monkeypatch.setenv("AUTAN_EMBEDDINGS__THREADS", "3")
    settings = build_settings()
    assert settings.embeddings.enabled is False and settings.embeddings.threads == 3
    assert build_settings(embeddings=True).embeddings.enabled is True


def test_prefix_cache_is_on_by_default_and_a_flag_or_the_environment_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert build_settings().engine.prefix_cache is True
    assert build_settings(prefix_cache=False).engine.prefix_cache is False
    monkeypatch.setenv("AUTAN_ENGINE__PREFIX_CACHE", "false")
    assert build_settings().engine.prefix_cache is False
    assert build_settings(prefix_cache=True).engine.prefix_cache is True


def test_batch_slots_come_from_the_flag_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert build_settings(parallel=4).engine.batch_sequences == 4
    monkeypatch.setenv("AUTAN_ENGINE__BATCH_SLOTS", "12")
    assert build_settings().engine.batch_sequences == 12
    settings = build_settings(parallel=4, batch_slots=16)
    assert (settings.engine.batch_sequences, settings.engine.streams) == (16, 17)


def test_metrics_flags_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_settings().metrics.port is None and build_settings().metrics.auth == "none"
    monkeypatch.setenv("AUTAN_METRICS__PORT", "9464")
    monkeypatch.setenv("AUTAN_METRICS__ENABLED", "false")
    assert build_settings().metrics.port == 9464
    settings = build_settings(metrics_port=9100, metrics_auth="admin")
    assert (settings.metrics.port, settings.metrics.auth) == (9100, "admin")
    assert settings.metrics.enabled is False  # what the flags do not set stays


def test_jobs_follow_the_environment_unless_a_command_says(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_settings().jobs.enabled
    monkeypatch.setenv("AUTAN_JOBS__ENABLED", "false")
    monkeypatch.setenv("AUTAN_JOBS__LEASE_SECONDS", "7")
    assert not build_settings().jobs.enabled
    worker = build_settings(jobs=True).jobs  # `autan worker` runs jobs whatever the environment
    assert worker.enabled and worker.lease_seconds == 7
    monkeypatch.delenv("AUTAN_JOBS__ENABLED")
    assert not build_settings(jobs=False).jobs.enabled  # `autan serve --no-jobs`


def test_speculation_is_auto_by_default_and_a_flag_or_the_environment_forces_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert build_settings().engine.speculative == "auto"
    assert build_settings(speculative="off").engine.speculative == "off"
    monkeypatch.setenv("AUTAN_ENGINE__SPECULATIVE", "on")
    assert build_settings().engine.speculative == "on"
    assert build_settings(speculative="auto").engine.speculative == "auto"
    monkeypatch.setenv("AUTAN_ENGINE__SPECULATIVE", "sometimes")
    with pytest.raises(ValidationError):
        build_settings()
