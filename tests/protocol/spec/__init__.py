"""Mistral's spec for the replies autan serves, as JSON Schema (see ``extract.py``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

_SCHEMAS = Path(__file__).with_name("response_schemas.json")


@cache
def _documents() -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = json.loads(_SCHEMAS.read_text())
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
