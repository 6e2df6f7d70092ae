"""Mistral's spec for the replies autan serves, as JSON Schema (see ``extract.py``), read
from Mistral's published OpenAPI documents in ``../shared/spec`` beside the repository, or
``AUTAN_MISTRAL_SPEC_DIR``."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.protocol.spec.extract import response_schemas

SPEC_DIR = Path(
    os.environ.get(
        "AUTAN_MISTRAL_SPEC_DIR", Path(__file__).resolve().parents[4] / "shared" / "spec"
    )
)
CURRENT = SPEC_DIR / "mistral-openapi.yaml"
LEGACY = SPEC_DIR / "mistral-openapi-legacy.yaml"


def require_spec() -> None:
    """Fail under CI, skip elsewhere, when Mistral's OpenAPI documents are not there."""
    if CURRENT.is_file() and LEGACY.is_file():
        return
    message = f"Mistral's OpenAPI documents are not in {SPEC_DIR} (set AUTAN_MISTRAL_SPEC_DIR)"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI must provide them", pytrace=False)
    pytest.skip(message)


@cache
def _documents() -> dict[str, dict[str, Any]]:
    require_spec()
    loaded = response_schemas(CURRENT, LEGACY)
    # The spec's one mistake here: a chat completion has no ``data``, and La Plateforme sends
    # none, but ChatCompletionResponse lists it as required.
    required = loaded["current"]["ChatCompletionResponse"]["allOf"][1]["required"]
    required.remove("data")
    return loaded


def spec_errors(component: str, instance: Any, *, legacy: bool = False) -> list[str]:
    """Where ``instance`` breaks the spec's ``component`` schema; empty when it conforms."""
    schemas = _documents()["legacy" if legacy else "current"]
    root = {"components": {"schemas": schemas}, "$ref": f"#/components/schemas/{component}"}
    validator = Draft202012Validator(root)
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.path])
    return [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors]
