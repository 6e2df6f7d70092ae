"""Random JSON schemas and tool sets for property tests, reproducible from a seed.

Every schema bounds its output (string lengths, item counts, nesting) so that a model that
follows it always finishes within a few hundred tokens: a truncated reply could not validate.
"""

from __future__ import annotations

import random
from typing import Any

Schema = dict[str, Any]

_PATTERNS = ["^[a-z]{2,6}$", "^[A-Z][0-9]{3}$", "^(yes|no|maybe)$", "^[a-f0-9]{4}-[a-f0-9]{4}$"]
_FORMATS = ["date", "email", "uuid", "ipv4", "date-time", "time"]
_WORDS = ["red", "green", "blue", "small", "large", "north", "south", "cat", "dog", "tea"]


class SchemaGen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def schema(self) -> Schema:
        """A top-level object schema: what ``response_format`` and tool parameters take."""
        return self._object(depth=0)

    def _key(self, used: set[str]) -> str:
        while True:
            key = self.rng.choice(_WORDS) + self.rng.choice(["", "_id", "s", "_at", "Name"])
            if key not in used:
                used.add(key)
                return key

    def _object(self, depth: int) -> Schema:
        used: set[str] = set()
        props = {self._key(used): self._value(depth + 1) for _ in range(self.rng.randint(1, 4))}
        names = list(props)
        required = [k for k in names if self.rng.random() < 0.7] or names[:1]
        schema: Schema = {"type": "object", "properties": props, "required": required}
        if self.rng.random() < 0.5:
            schema["additionalProperties"] = False
        return schema

    def _value(self, depth: int) -> Schema:
        kinds = ["string", "bounded_string", "pattern", "format", "enum", "integer", "number"]
        kinds += ["boolean", "const", "null_or"]
        if depth < 3:
            kinds += ["object", "array", "anyOf"]
        kind = self.rng.choice(kinds)
        rng = self.rng
        if kind == "string":
            return {"type": "string", "maxLength": rng.randint(1, 24)}
        if kind == "bounded_string":
            lo = rng.randint(0, 4)
            return {"type": "string", "minLength": lo, "maxLength": lo + rng.randint(1, 12)}
        if kind == "pattern":
            return {"type": "string", "pattern": rng.choice(_PATTERNS)}
        if kind == "format":
            return {"type": "string", "format": rng.choice(_FORMATS), "maxLength": 40}
        if kind == "enum":
            return {"enum": rng.sample(_WORDS, rng.randint(1, 4))}
        if kind == "integer":
            lo = rng.randint(-50, 50)
            return {"type": "integer", "minimum": lo, "maximum": lo + rng.randint(0, 1000)}
        if kind == "number":
            lo = rng.randint(-40, 40) / 4
            return {"type": "number", "minimum": lo, "maximum": lo + 100, "multipleOf": 0.25}
        if kind == "boolean":
            return {"type": "boolean"}
        if kind == "const":
            return {"const": rng.choice(_WORDS)}
        if kind == "null_or":
            return {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 0, "maximum": 9}]}
        if kind == "object":
            return self._object(depth)
        if kind == "array":
            lo = rng.randint(0, 2)
            return {
                "type": "array",
                "items": self._value(depth + 1),
                "minItems": lo,
                "maxItems": lo + rng.randint(1, 3),
            }
        return {"anyOf": [self._value(depth + 1), self._value(depth + 1)]}

    def tools(self) -> list[dict[str, Any]]:
        """One to four function tools with random parameter schemas."""
        names = self.rng.sample(["lookup", "convert", "book_room", "send-mail", "rate", "find"], 4)
        return [
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": f"{name.replace('_', ' ')} something",
                    "parameters": self.schema(),
                },
            }
            for name in names[: self.rng.randint(1, 4)]
        ]
