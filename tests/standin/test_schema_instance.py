from typing import Any

import jsonschema
import pytest

from tests.standin.schema_instance import instance_of

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"a": {"type": "integer", "minimum": 5}}, "required": ["a"]},
    {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "when": {"type": "string", "format": "date-time"},
            "score": {"type": "number", "exclusiveMaximum": 0},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
            "kind": {"const": "k"},
        },
        "required": ["tags", "when", "score", "maybe", "kind"],
        "additionalProperties": False,
    },
    {
        "$defs": {
            "Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
        },
        "type": "object",
        "properties": {"p": {"$ref": "#/$defs/Point"}, "name": {"type": ["string", "null"]}},
        "required": ["p", "name"],
    },
    {"type": "object", "properties": {"x": {"type": "string"}}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_instances_validate_and_broken_ones_do_not(schema: dict[str, Any]) -> None:
    jsonschema.validate(instance_of(schema), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(instance_of(schema, broken=True), schema)
