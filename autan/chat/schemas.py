"""JSON schemas from requests (tool parameters, response formats) checked and made enforceable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from jsonschema import exceptions as jsonschema_exceptions
from jsonschema import validators

from autan.errors import InvalidRequest
from autan.settings import RequestLimits

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


# llguidance's ``date`` and ``date-time`` formats take the year 0000, which no calendar has
# (jsonschema, and Python's ``date.fromisoformat``, refuse it): a pattern beside the format
# keeps years 0001 to 9999.
_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_YEAR_PATTERNS = {"date": f"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}$", "date-time": f"^{_YEAR}-.*$"}


def close_objects(schema: Any) -> Any:
    """A copy where every object that lists ``properties`` but says nothing of other keys
    allows no other keys, and dates have a year.

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
    year = _YEAR_PATTERNS.get(out.get("format"))  # type: ignore[arg-type]
    if year is not None and "pattern" not in out:
        out["pattern"] = year
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


# Counts a grammar unrolls: a schema asking for a billion items compiles and then makes every
# mask of the engine thread (which all requests share) slow.
_COUNT_KEYWORDS = (
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "minContains",
    "maxContains",
)


def bound_schemas(schemas: list[tuple[Any, str]], limits: RequestLimits) -> None:
    """Refuse (400) schemas whose grammar would cost more than ``limits`` allow: nested too
    deep, too many values or properties in all of ``schemas`` together (``(schema, param)``
    pairs, the param naming each in the request), or a count keyword above the bound.

    Runs before anything else reads the schemas (jsonschema's checks recurse), iteratively.
    """
    nodes = properties = 0
    for schema, param in schemas:
        stack: list[tuple[Any, int]] = [(schema, 1)]
        while stack:
            value, depth = stack.pop()
            nodes += 1
            if nodes > limits.max_schema_nodes:
                raise _too_big(f"holds more than {limits.max_schema_nodes} values", "NODES", param)
            if isinstance(value, dict):
                children = list(value.values())
                props = value.get("properties")
                if isinstance(props, dict):
                    properties += len(props)
                    if properties > limits.max_schema_properties:
                        raise _too_big(
                            f"declares more than {limits.max_schema_properties} properties",
                            "PROPERTIES",
                            param,
                        )
                for key in _COUNT_KEYWORDS:
                    count = value.get(key)
                    if isinstance(count, int | float) and count > limits.max_schema_bound:
                        raise _too_big(
                            f"sets {key} to {count}, above {limits.max_schema_bound}",
                            "BOUND",
                            param,
                        )
            elif isinstance(value, list):
                children = value
            else:
                continue
            if children and depth >= limits.max_schema_depth:
                raise _too_big(
                    f"is nested more than {limits.max_schema_depth} levels deep", "DEPTH", param
                )
            stack.extend((child, depth + 1) for child in children)


def _too_big(why: str, setting: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"The schema {why}, more than this server compiles into a grammar "
        f"(AUTAN_LIMITS__MAX_SCHEMA_{setting})",
        param=param,
        code="schema_too_large",
    )


def check_satisfiable(schema: dict[str, Any], *, param: str, what: str) -> None:
    """Refuse (400) a schema no finite JSON value matches: a required property or a required
    array item whose schema needs itself again (``{"properties": {"a": {"$ref": "#"}},
    "required": ["a"]}``, ``$ref`` cycles through required properties). The grammar of such a
    schema has no end: the reply would stop anywhere, never valid.

    A least fixpoint over the local ``$ref`` targets: each starts unsatisfiable and becomes
    satisfiable once it is so with what is known of the others.
    """
    refs = sorted(_local_refs(schema))
    known = dict.fromkeys(refs, False)
    while True:
        now = {ref: _satisfiable(_resolve(schema, ref), schema, known) for ref in refs}
        if now == known:
            break
        known = now
    if not _satisfiable(schema, schema, known):
        raise InvalidRequest(
            f"{what} cannot be satisfied: every value it allows would be infinite (a required "
            "property or array item refers back to the schema it is in)",
            param=param,
            code="unsatisfiable_schema",
        )


def _local_refs(schema: Any) -> set[str]:
    found: set[str] = set()
    stack = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                found.add(ref)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _resolve(root: Any, ref: str) -> Any:
    """The schema a local ``$ref`` points to; ``True`` (anything) when it points nowhere we
    can follow (an anchor), so that only what is certain is refused."""
    node = root
    for part in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
        key = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return True
    return node


def _satisfiable(node: Any, root: Any, known: dict[str, bool]) -> bool:
    if node is False:
        return False
    if not isinstance(node, dict):
        return True
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#") and not known.get(ref, True):
        return False

    def ok(sub: Any) -> bool:
        return _satisfiable(sub, root, known)

    if isinstance(node.get("allOf"), list) and not all(map(ok, node["allOf"])):
        return False
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list) and node[key] and not any(map(ok, node[key])):
            return False
    types = node.get("type")
    if types is None:
        return True  # a value of some other type fits
    kinds = types if isinstance(types, list) else [types]
    return any(_kind_satisfiable(kind, node, ok) for kind in kinds)


def _kind_satisfiable(kind: Any, node: dict[str, Any], ok: Callable[[Any], bool]) -> bool:
    if kind == "object":
        props = node.get("properties")
        props = props if isinstance(props, dict) else {}
        other = node.get("additionalProperties", True)
        required = node.get("required")
        return all(
            ok(props.get(key, other))
            for key in (required if isinstance(required, list) else [])
            if isinstance(key, str)
        )
    if kind == "array":
        least = node.get("minItems", 0)
        prefix = node.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        if not isinstance(least, int):
            return True
        if not all(ok(s) for s in prefix[:least]):
            return False
        return least <= len(prefix) or ok(node.get("items", True))
    return True
