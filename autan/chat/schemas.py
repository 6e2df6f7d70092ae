"""JSON schemas from requests (tool parameters, response formats) checked and made enforceable."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import exceptions as jsonschema_exceptions
from jsonschema import validators

from autan.errors import InvalidRequest

# How generated JSON is laid out: one space after ':' and ',' and nowhere else. Models write
# JSON this way; flexible whitespace would let a sampled model emit blank lines forever.
JSON_LAYOUT: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
}


def check_schema(schema: Any, *, param: str, what: str) -> dict[str, Any]:
    """A copy of ``schema`` if it is a valid JSON Schema (for its own ``$schema`` draft, else
    2020-12); a 400 naming ``param`` otherwise."""
    if not isinstance(schema, dict):
        raise InvalidRequest(f"{what} must be a JSON Schema object", param=param)
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema_exceptions.SchemaError as e:
        where = "/".join(str(p) for p in e.absolute_path)
        at = f" at '{where}'" if where else ""
        raise InvalidRequest(
            f"{what} is not a valid JSON Schema{at}: {e.message}", param=param
        ) from None
    return dict(schema)


_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = (
    "items",
    "additionalItems",
    "additionalProperties",
    "unevaluatedProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
)


def close_objects(schema: Any) -> Any:
    """A copy where every object that lists ``properties`` but says nothing of other keys
    allows no other keys.

    Output that fits the copy fits the original: extra keys are allowed there, never required.
    Without this a sampled model can keep inventing keys until it runs out of tokens.
    """
    if isinstance(schema, list):
        return [close_objects(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {k: close_objects(v) for k, v in out[key].items()}
    for key in (*_SCHEMA_LISTS, *_SCHEMA_ONE):
        if key in out:
            out[key] = close_objects(out[key])
    if (
        "properties" in out
        and "additionalProperties" not in out
        and "patternProperties" not in out
        and "unevaluatedProperties" not in out
    ):
        out["additionalProperties"] = False
    return out


def lark_json(schema: dict[str, Any]) -> str:
    """The schema, closed (``close_objects``), as an llguidance Lark ``%json`` term laid out
    as ``JSON_LAYOUT`` says.

    A client's own ``x-guidance`` options are replaced: they could relax enforcement.
    """
    closed = close_objects(schema)
    return "%json " + json.dumps({**closed, "x-guidance": JSON_LAYOUT}, ensure_ascii=False)


def lark_literal(text: str) -> str:
    """``text`` as a Lark string literal (llguidance reads them as JSON strings)."""
    return json.dumps(text, ensure_ascii=False)


def lark_call_objects(tools: list[Any]) -> list[str]:
    """One rule ``fn_<i>`` per tool: ``{"name": <its name>, "arguments": <its schema>}``, the
    call object both the JSON tag syntax and Mistral's ``[TOOL_CALLS]`` list are made of."""
    return [
        f"fn_{i}: "
        + lark_literal(f'{{"name": {json.dumps(t.name)}, "arguments": ')
        + f" {lark_json(t.parameters)} "
        + lark_literal("}")
        for i, t in enumerate(tools)
    ]
