import pytest

from autan.chat.schemas import check_schema
from autan.chat.tools import ToolMode, new_call_id, plan_tools
from autan.errors import InvalidRequest
from autan.protocol.chat import ChatCompletionRequest


def request(**body: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    )


def fn(name: str, parameters: object = None) -> dict[str, object]:
    f: dict[str, object] = {"name": name}
    if parameters is not None:
        f["parameters"] = parameters
    return {"type": "function", "function": f}


def test_tool_choice_values_map_to_modes() -> None:
    tools = [fn("a"), fn("b")]
    assert plan_tools(request(tools=tools)).mode is ToolMode.AUTO
    assert plan_tools(request(tools=tools, tool_choice="none")).mode is ToolMode.NONE
    for choice in ("any", "required"):
        assert plan_tools(request(tools=tools, tool_choice=choice)).mode is ToolMode.REQUIRED
    named = plan_tools(
        request(tools=tools, tool_choice={"type": "function", "function": {"name": "b"}})
    )
    assert named.mode is ToolMode.REQUIRED
    assert [t.name for t in named.callable] == ["b"]
    assert [t.name for t in named.declared] == ["a", "b"]


def test_missing_parameters_mean_an_object_with_anything() -> None:
    (spec,) = plan_tools(request(tools=[fn("a")])).declared
    assert spec.parameters == {"type": "object"}


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        (
            {"tools": [fn("a")], "tool_choice": {"type": "function", "function": {"name": "zz"}}},
            "tool_choice",
            "not among",
        ),
        ({"tool_choice": "any"}, "tool_choice", "at least one function"),
        ({"tools": [fn("bad name")]}, "tools[0].function.name", "must be a-z"),
        ({"tools": [fn("get_weather\n")]}, "tools[0].function.name", "must be a-z"),
        ({"tools": [fn("a"), fn("a")]}, "tools[1].function.name", "declared twice"),
        ({"tools": [fn("a", {"type": "array"})]}, "tools[0].function.parameters", "type 'object'"),
        (
            {"tools": [fn("a", {"type": "object", "properties": 3})]},
            "tools[0].function.parameters",
            "not a valid JSON Schema",
        ),
        ({"tools": [fn(f"f{i}") for i in range(129)]}, "tools", "at most 128"),
        ({"tools": [{"type": "web_search"}]}, "tools[0]", "Built-in tool"),
    ],
)
def test_bad_tools_get_a_400_naming_the_field(
    body: dict[str, object], param: str, words: str
) -> None:
    with pytest.raises(InvalidRequest) as e:
        plan_tools(request(**body))
    assert e.value.param == param
    assert words in e.value.message


def test_call_ids_are_nine_alphanumerics() -> None:
    ids = {new_call_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 9 and i.isalnum() for i in ids)


def test_schema_check_names_where_the_schema_is_wrong() -> None:
    assert check_schema({"type": "object"}, param="p", what="S") == {"type": "object"}
    with pytest.raises(InvalidRequest, match="at 'properties/a/type'") as e:
        check_schema({"type": "object", "properties": {"a": {"type": 5}}}, param="p", what="S")
    assert e.value.param == "p"
    with pytest.raises(InvalidRequest, match="must be a JSON Schema object"):
        check_schema([], param="p", what="S")


def test_closing_objects_keeps_explicit_choices_and_reaches_nested_schemas() -> None:
    from autan.chat.schemas import close_objects

    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "b": {"type": "object", "properties": {}, "additionalProperties": True},
            "c": {"type": "array", "items": {"properties": {"y": {}}}},
            "properties": {"anyOf": [{"properties": {"z": {}}}, {"type": "string"}]},
        },
        "$defs": {"D": {"properties": {"w": {}}}},
    }
    closed = close_objects(schema)
    assert closed["additionalProperties"] is False
    props = closed["properties"]
    assert props["a"]["additionalProperties"] is False
    assert props["b"]["additionalProperties"] is True
    assert props["c"]["items"]["additionalProperties"] is False
    assert props["properties"]["anyOf"][0]["additionalProperties"] is False
    assert "additionalProperties" not in props["properties"]["anyOf"][1]
    assert closed["$defs"]["D"]["additionalProperties"] is False
    assert "additionalProperties" not in schema  # the request's schema is left as it was
