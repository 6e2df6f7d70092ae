from pathlib import Path

import pytest

from tests.fine_tuning.tiny_chat_model import write_tiny_chat_gguf


@pytest.fixture(scope="session")
def tiny_chat_gguf(pytestconfig: pytest.Config) -> Path:
    """The tiny SmolLM2-vocabulary model, written once into pytest's cache (its dequantized
    copy is keyed by the file's modification time, so the file is kept between runs)."""
    assert pytestconfig.cache is not None
    path = pytestconfig.cache.mkdir("tiny-chat-gguf") / "tiny-smollm2-v1.gguf"
    return path if path.is_file() else write_tiny_chat_gguf(path)


@pytest.fixture(scope="session")
def model_cache(pytestconfig: pytest.Config) -> Path:
    """Where trainers keep dequantized base models between tests and runs."""
    assert pytestconfig.cache is not None
    return pytestconfig.cache.mkdir("fine-tuning-models")
