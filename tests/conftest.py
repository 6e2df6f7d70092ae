from collections.abc import Iterator

import pytest

from tests.server import Server, start_server, stop_server


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One real ``autan serve`` on the packaged model, shared by the SDK and CLI tests."""
    proc, srv = start_server("--parallel", "8", "--ctx-size", "2048")
    try:
        yield srv
    finally:
        stop_server(proc)
