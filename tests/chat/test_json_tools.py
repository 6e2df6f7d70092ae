import itertools
import json

import llguidance
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autan.chat.json_tools import JsonToolFormat, JsonToolParser
from autan.chat.tool_format import HistoryCall, Parsed
from autan.chat.tools import ToolMode, ToolPlan, ToolSpec
from autan.inference.constraints import Grammars
from tests.fakes import ByteVocabulary

WEATHER = ToolSpec(
    "get_weather",
    "Weather in a city",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city"],
    },
)
TIME = ToolSpec("get_time", "", {"type": "object", "properties": {}})
CALL_W = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
CALL_T = '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'


def feed_all(parser: JsonToolParser, pieces: list[str], *, cut: bool = False) -> Parsed:
    out = Parsed()
    for piece in [*pieces, None]:
        got = parser.finish(cut=cut) if piece is None else parser.feed(piece)
        out.content += got.content
        out.calls += got.calls
    return out


@pytest.mark.parametrize("size", [1, 2, 5, 17, 1000])
def test_parser_reads_calls_whatever_the_delta_sizes(size: int) -> None:
    text = CALL_W + "\n" + CALL_T
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    out = feed_all(JsonToolParser(), pieces)
    assert out.content == ""
    assert [(c.name, json.loads(c.arguments)) for c in out.calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {}),
    ]


def test_parser_releases_each_call_as_its_block_closes() -> None:
    parser = JsonToolParser()
    assert parser.feed(CALL_W[:-3]).calls == []
    assert [c.name for c in parser.feed(CALL_W[-3:] + "\n<tool").calls] == ["get_weather"]
    assert parser.finish(cut=True) == Parsed()  # an unfinished block is dropped


@pytest.mark.parametrize("cut", [True, False])
@pytest.mark.parametrize(
    "pieces",
    [
        [CALL_W, '\n<tool_call>\n{"name":'],
        [CALL_W + '\n<tool_call>\n{"name": "get_t'],
        ['<tool_call>\n{"name": "get_weather", "arguments": {"ci'],
    ],
)
def test_a_call_cut_short_is_dropped_and_never_becomes_content(
    pieces: list[str], cut: bool
) -> None:
    out = feed_all(JsonToolParser(), pieces, cut=cut)
    assert out.content == ""
    assert [c.name for c in out.calls] == (["get_weather"] if CALL_W in pieces[0] else [])


def test_a_reply_cut_while_it_could_still_open_a_call_gives_no_markup() -> None:
    assert feed_all(JsonToolParser(), ["<tool_c"], cut=True) == Parsed()
    assert feed_all(JsonToolParser(), ["<tool_c"], cut=False) == Parsed(content="<tool_c")


def test_parser_passes_text_through_once_it_cannot_be_a_call() -> None:
    parser = JsonToolParser()
    assert parser.feed("<to").content == ""  # could still open a call: held back
    assert parser.feed("day").content == "<today"
    assert parser.feed(" is fine").content == " is fine"
    assert parser.finish(cut=False) == Parsed()


def test_parser_gives_back_a_short_reply_that_looked_like_a_call() -> None:
    parser = JsonToolParser()
    assert parser.feed("<").content == ""
    assert parser.finish(cut=False).content == "<"  # the model chose to stop there


def test_history_calls_render_in_the_syntax_the_grammar_enforces() -> None:
    fmt = JsonToolFormat()
    text = fmt.render_calls([HistoryCall("abcDEF123", "get_weather", '{"city": "Paris"}')])
    assert text == CALL_W
    assert "get_weather" in fmt.system_prompt([WEATHER])
    assert fmt.render_result("18C", name="get_weather") == "<tool_response>\n18C\n</tool_response>"


@pytest.fixture(scope="module")
def grammars() -> Grammars:
    return Grammars(ByteVocabulary().grammar_tokenizer(), 256)


def accepts(grammars: Grammars, lark: str, text: str) -> bool:
    matcher = llguidance.LLMatcher(grammars.tokenizer, grammars.lark(lark).source, log_level=0)
    return bool(matcher.consume_tokens(list(text.encode()))) and matcher.is_accepting()


def plan(
    mode: ToolMode, *, parallel: bool = True, callable_: list[ToolSpec] | None = None
) -> ToolPlan:
    tools = [WEATHER, TIME]
    return ToolPlan(tools, tools if callable_ is None else callable_, mode, parallel)


def test_auto_allows_text_or_calls_but_never_a_call_inside_text(grammars: Grammars) -> None:
    lark = JsonToolFormat().lark(plan(ToolMode.AUTO), None)
    assert accepts(grammars, lark, "It is sunny.")
    assert accepts(grammars, lark, CALL_W)
    assert accepts(grammars, lark, CALL_W + "\n" + CALL_T)
    assert not accepts(grammars, lark, "Let me check. " + CALL_W)
    assert not accepts(grammars, lark, CALL_W.replace("Paris", 'Paris", "days": 0'))


def test_required_allows_calls_only(grammars: Grammars) -> None:
    lark = JsonToolFormat().lark(plan(ToolMode.REQUIRED), None)
    assert not accepts(grammars, lark, "It is sunny.")
    assert not accepts(grammars, lark, "")
    assert accepts(grammars, lark, CALL_T)


def test_named_choice_and_no_parallel_calls(grammars: Grammars) -> None:
    lark = JsonToolFormat().lark(plan(ToolMode.REQUIRED, parallel=False, callable_=[TIME]), None)
    assert accepts(grammars, lark, CALL_T)
    assert not accepts(grammars, lark, CALL_W)
    assert not accepts(grammars, lark, CALL_T + "\n" + CALL_T)


def test_undeclared_function_and_missing_required_argument_are_refused(grammars: Grammars) -> None:
    lark = JsonToolFormat().lark(plan(ToolMode.REQUIRED), None)
    assert not accepts(grammars, lark, CALL_W.replace("get_weather", "get_wether"))
    assert not accepts(grammars, lark, CALL_W.replace('"city": "Paris"', ""))


def test_auto_with_a_response_schema_makes_text_match_it(grammars: Grammars) -> None:
    from autan.chat.schemas import lark_json

    rule = lark_json(
        {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    )
    lark = JsonToolFormat().lark(plan(ToolMode.AUTO), rule)
    assert accepts(grammars, lark, '{"a": 3}')
    assert not accepts(grammars, lark, "plain text")
    assert accepts(grammars, lark, CALL_T)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(
    calls=st.lists(
        st.tuples(
            st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True),
            st.dictionaries(st.text(max_size=6), _json_values, max_size=3),
        ),
        min_size=1,
        max_size=4,
    ),
    cuts=st.lists(st.integers(0, 400), max_size=12),
)
def test_parser_reads_back_any_rendered_calls_however_the_stream_is_cut(
    calls: list[tuple[str, dict[str, object]]], cuts: list[int]
) -> None:
    text = JsonToolFormat().render_calls(
        [HistoryCall(None, name, json.dumps(args, ensure_ascii=False)) for name, args in calls]
    )
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    out = feed_all(JsonToolParser(), pieces)
    assert out.content == ""
    assert [(c.name, json.loads(c.arguments)) for c in out.calls] == calls


def test_a_closing_tag_inside_an_argument_does_not_end_the_call() -> None:
    text = JsonToolFormat().render_calls(
        [HistoryCall(None, "post", json.dumps({"html": "<b>x</b></tool_call>"}))]
    )
    out = feed_all(JsonToolParser(), [text[:40], text[40:]])
    assert [json.loads(c.arguments) for c in out.calls] == [{"html": "<b>x</b></tool_call>"}]
