import pytest

from autan.cli.options import build_settings


def test_prefix_cache_is_on_by_default_and_a_flag_or_the_environment_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert build_settings().engine.prefix_cache is True
    assert build_settings(prefix_cache=False).engine.prefix_cache is False
    monkeypatch.setenv("AUTAN_ENGINE__PREFIX_CACHE", "false")
    assert build_settings().engine.prefix_cache is False
    assert build_settings(prefix_cache=True).engine.prefix_cache is True
