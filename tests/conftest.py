from collections.abc import Iterator
from pathlib import Path

import pytest

from autan.storage.database import Database
from tests.databases import database_url
from tests.random_gguf import RandomGGUF
from tests.server import Server, start_server, stop_server
from tests.tiny_models import (
    CODESTRAL_TEKKEN,
    DENSE_V3,
    MIXTRAL_V3,
    cache_dir,
    tiny_path,
    v11_tekken,
)


@pytest.fixture(scope="session", autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test, and every server a test starts, keeps its files in a temporary data dir:
    nothing lands in the user's own (~/.local/share/autan) whatever a test forgets to pass."""
    path = tmp_path_factory.mktemp("autan-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTAN_DATA_DIR", str(path))
        yield path


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One real ``autan serve`` on the packaged model, shared by the SDK and CLI tests."""
    proc, srv = start_server("--parallel", "8", "--ctx-size", "2048")
    try:
        yield srv
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def dense_v3(pytestconfig: pytest.Config) -> Path:
    return tiny_path(pytestconfig, DENSE_V3)


@pytest.fixture(scope="session")
def mixtral_v3(pytestconfig: pytest.Config) -> Path:
    return tiny_path(pytestconfig, MIXTRAL_V3)


@pytest.fixture(scope="session")
def codestral_tekken(pytestconfig: pytest.Config) -> Path:
    return tiny_path(pytestconfig, CODESTRAL_TEKKEN)


@pytest.fixture(scope="session")
def v11_tokenizer(pytestconfig: pytest.Config) -> Path:
    return v11_tekken(cache_dir(pytestconfig))


@pytest.fixture(scope="session")
def dense_v11(pytestconfig: pytest.Config, v11_tokenizer: Path) -> Path:
    return tiny_path(
        pytestconfig, RandomGGUF(tokenizer=str(v11_tokenizer), name="tiny-mistral-v11")
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    for url in database_url(request.param, tmp_path):
        database = Database.open(url, tmp_path)
        try:
            yield database
        finally:
            database.close()


@pytest.fixture(scope="session")
def tiny_chat_gguf(pytestconfig: pytest.Config) -> Path:
    """A tiny random llama with SmolLM2's vocabulary and chat template, for fine-tuning; kept
    in pytest's cache (its dequantized copy is keyed by the file's modification time)."""
    from tests.fine_tuning.tiny_chat_model import write_tiny_chat_gguf

    assert pytestconfig.cache is not None
    path = pytestconfig.cache.mkdir("tiny-chat-gguf") / "tiny-smollm2-v1.gguf"
    return path if path.is_file() else write_tiny_chat_gguf(path)


@pytest.fixture(scope="session")
def model_cache(pytestconfig: pytest.Config) -> Path:
    """Where trainers keep dequantized base models between tests and runs."""
    assert pytestconfig.cache is not None
    return pytestconfig.cache.mkdir("fine-tuning-models")
