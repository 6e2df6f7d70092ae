"""Conformance to Mistral's published OpenAPI spec, checked by schemathesis.

Requests are generated from ``../shared/spec/mistral-openapi.yaml`` for the paths autan
serves, valid and invalid alike, and sent to the app (accounts, files and batch on, a fake
engine). Whatever is sent, the answer is never a server error, a 200 or 422 body matches the
spec's schema, and its content type is one the spec declares. The model is fixed to the one
served and ``max_tokens`` kept small, so the run stays bounded in time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, settings
from jsonschema import Draft202012Validator
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from autan.settings import FilesSettings
from tests.api.conftest import Platform, platform_app
from tests.protocol.spec import CURRENT

SPEC = CURRENT
# The spec's paths that autan implements (fine-tuning jobs live only in the legacy spec).
SERVED = (
    "/v1/models",
    "/v1/models/{model_id}",
    "/v1/chat/completions",
    "/v1/fim/completions",
    "/v1/embeddings",
    "/v1/files",
    "/v1/files/{file_id}",
    "/v1/files/{file_id}/content",
    "/v1/files/{file_id}/url",
    "/v1/batch/jobs",
    "/v1/batch/jobs/{job_id}",
    "/v1/batch/jobs/{job_id}/cancel",
    "/v1/fine_tuning/models/{model_id}",
    "/v1/fine_tuning/models/{model_id}/archive",
    "/v1/observability/chat-completion-events/search",
    "/v1/observability/chat-completion-events/search-ids",
    "/v1/observability/chat-completion-events/{event_id}",
    "/v1/observability/chat-completion-fields",
    "/v1/observability/chat-completion-fields/{field_name}/options",
    "/v1/observability/chat-completion-fields/{field_name}/options-counts",
)
MODEL = "fake-model"
MAX_TOKENS = 8
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


if not SPEC.is_file():
    _MISSING = f"Mistral's OpenAPI spec is not at {SPEC} (set AUTAN_MISTRAL_SPEC_DIR)"
    if os.environ.get("CI") == "true":
        pytest.fail(_MISSING + "; CI must provide it", pytrace=False)
    pytest.skip(_MISSING, allow_module_level=True)
_spec = yaml.safe_load(SPEC.read_text())
# Errata: the spec lists `data` (an embeddings field) as required in a chat completion; the
# API does not send it and no SDK reads it.
_chat_response = _spec["components"]["schemas"]["ChatCompletionResponse"]["allOf"][1]
_chat_response["required"].remove("data")
schema = schemathesis.openapi.from_dict(_spec)
schema.filter_set.include(path=list(SERVED))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from platform_app(tmp_path_factory.mktemp("conformance"), files=FilesSettings())


def _bounded(body: Any) -> Any:
    """The served model, and replies short enough to keep the run bounded."""
    if isinstance(body, dict):
        if "model" in body:
            body["model"] = MODEL
        if isinstance(body.get("max_tokens"), int) or "max_tokens" in body:
            body["max_tokens"] = MAX_TOKENS
        if body.get("n") is not None:
            body["n"] = 1
    return body


def _send(client: httpx.Client, case: schemathesis.Case, secret: str) -> httpx.Response:
    """The case encoded as schemathesis encodes it (JSON, multipart, raw bytes), sent
    through the app's test client."""
    kwargs = case.as_transport_kwargs(
        base_url="http://testserver", headers={"Authorization": f"Bearer {secret}"}
    )
    fields = ("params", "headers", "json", "data", "files")
    prepared = requests.Request(
        **{key: kwargs[key] for key in ("method", "url", *fields) if key in kwargs}
    ).prepare()
    url = httpx.URL(prepared.url or "")
    return client.request(
        case.method,
        url.raw_path.decode(),
        content=prepared.body,
        headers=dict(prepared.headers),
    )


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_conforms_to_the_spec(case: schemathesis.Case, served: Platform) -> None:
    case.body = _bounded(case.body)
    response = _send(served.client, case, served.admin_key)
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        # schemathesis checks an event's data as a string, not as the JSON it holds.
        case.validate_response(response, checks=[not_a_server_error, content_type_conformance])
        _check_stream(response.text)
    else:
        case.validate_response(response, checks=CHECKS)


def _check_stream(text: str) -> None:
    """Every event but the final ``[DONE]`` is a chunk as the spec defines it."""
    events = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data:")]
    assert events[-1] == "[DONE]", events[-1]
    for event in events[:-1]:
        _CHUNK.validate(json.loads(event))


_CHUNK = Draft202012Validator(
    {"$ref": "#/components/schemas/CompletionChunk", "components": _spec["components"]}
)
