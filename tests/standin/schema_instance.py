"""A JSON value that satisfies a simple JSON schema, or one that plainly does not.

Covers what tool parameters and ``json_schema`` response formats use: objects with required
properties, arrays, strings (enums, formats, lengths), numbers with bounds, ``anyOf``/``oneOf``,
``const`` and local ``$ref``. Optional properties are left out.
"""

from __future__ import annotations

from typing import Any

_FORMATS = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_MAX_DEPTH = 16


def instance_of(schema: Any, *, broken: bool = False) -> Any:
    """A value valid under ``schema``; with ``broken``, a value that violates it (every required
    property of the top object gets a value of the wrong type, or the wrong type is returned)."""
    return _Builder(schema).broken() if broken else _Builder(schema).valid(schema, 0)


class _Builder:
    def __init__(self, root: Any) -> None:
        self.root = root if isinstance(root, dict) else {}

    def resolve(self, schema: Any) -> dict[str, Any]:
        if not isinstance(schema, dict):
            return {}
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            return self.resolve(target)
        return schema

    def valid(self, schema: Any, depth: int) -> Any:
        s = self.resolve(schema)
        if depth > _MAX_DEPTH:
            return None
        if "const" in s:
            return s["const"]
        if s.get("enum"):
            return s["enum"][0]
        for key in ("anyOf", "oneOf"):
            if s.get(key):
                return self.valid(s[key][0], depth + 1)
        if s.get("allOf"):
            merged: dict[str, Any] = {}
            for part in s["allOf"]:
                merged.update(self.resolve(part))
            return self.valid(merged, depth + 1)
        kind = s.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in s else "string"
        if kind == "object":
            props = s.get("properties", {})
            return {
                name: self.valid(props.get(name, {}), depth + 1) for name in s.get("required", [])
            }
        if kind == "array":
            n = max(int(s.get("minItems", 0)), 1 if "items" in s else 0)
            if s.get("maxItems") is not None:
                n = min(n, int(s["maxItems"]))
            return [self.valid(s.get("items", {}), depth + 1) for _ in range(n)]
        if kind == "string":
            return self.string(s)
        if kind in ("integer", "number"):
            return self.number(s, kind)
        if kind == "boolean":
            return True
        return None

    @staticmethod
    def string(s: dict[str, Any]) -> str:
        text = _FORMATS.get(s.get("format", ""), "text")
        low, high = int(s.get("minLength", 0)), s.get("maxLength")
        if len(text) < low:
            text += "x" * (low - len(text))
        if high is not None:
            text = text[: int(high)]
        return text

    @staticmethod
    def number(s: dict[str, Any], kind: str) -> int | float:
        value: float = 1
        if "minimum" in s:
            value = max(value, s["minimum"])
        if "exclusiveMinimum" in s:
            value = max(value, s["exclusiveMinimum"] + 1)
        if "maximum" in s:
            value = min(value, s["maximum"])
        if "exclusiveMaximum" in s:
            value = min(value, s["exclusiveMaximum"] - 1)
        return int(value) if kind == "integer" else float(value)

    def broken(self) -> Any:
        s = self.resolve(self.root)
        if s.get("type", "object") != "object" and "properties" not in s:
            return {"not": "valid"}
        required = s.get("required", [])
        if not required:
            return ["not", "an", "object"]
        props = s.get("properties", {})
        return {name: _wrong_type(self.resolve(props.get(name, {}))) for name in required}


def _wrong_type(s: dict[str, Any]) -> Any:
    kind = s.get("type")
    if kind in ("integer", "number", "boolean"):
        return "not a number"
    if kind == "string" or s.get("enum") or "const" in s:
        return {"not": "a string"}
    return 12345 if kind != "array" else "not an array"
