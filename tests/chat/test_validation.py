import pytest
from pydantic import TypeAdapter

from autan.chat.validation import validate_messages
from autan.errors import InvalidRequest
from autan.protocol.chat import Message

Messages = TypeAdapter(list[Message])


def check(raw: list[dict], max_messages: int = 1024) -> None:  # type: ignore[type-arg]
    validate_messages(Messages.validate_python(raw), max_messages=max_messages)


CALL = {"id": "abcDEF123", "function": {"name": "f", "arguments": "{}"}}


def test_valid_conversations_pass() -> None:
    check([{"role": "user", "content": "a"}])
    check([{"role": "system", "content": "s"}, {"role": "user", "content": "a"}])
    check(
        [
            {"role": "user", "content": "a"},
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "content": "r", "tool_call_id": "abcDEF123"},
        ]
    )
    check([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "prefix": True}])


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (
            [
                {"role": "user", "content": "a"},
                {"role": "assistant", "tool_calls": [CALL, CALL]},
                {"role": "tool", "content": "r"},
                {"role": "assistant", "content": "x"},
                {"role": "user", "content": "b"},
            ],
            "Not the same number of function calls and responses",
        ),
        (
            [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "p", "prefix": True},
                {"role": "user", "content": "b"},
            ],
            "must be last message",
        ),
        ([{"role": "system", "content": "s"}], "Expected last role"),
    ],
)
def test_invalid_conversations_say_why(raw: list[dict], fragment: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidRequest, match=fragment):
        check(raw)


def test_call_ids_are_nine_alphanumerics_and_the_sdk_null_is_accepted() -> None:
    call = {"id": "null", "function": {"name": "a", "arguments": {}}}
    check(
        [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "content": "r", "tool_call_id": "abcDEF123"},
        ]
    )
    bad = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{**call, "id": "call_123"}]},
        {"role": "tool", "content": "r"},
    ]
    with pytest.raises(InvalidRequest, match="Tool call id was call_123 but must be"):
        check(bad)


def test_a_conversation_longer_than_the_limit_is_refused() -> None:
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}] * 3
    check([*turns, {"role": "user", "content": "c"}], max_messages=7)
    with pytest.raises(InvalidRequest, match="at most 6") as e:
        check([*turns, {"role": "user", "content": "c"}], max_messages=6)
    assert e.value.param == "messages"


@pytest.mark.parametrize("call_id", ["abcDEF123\n", "call_123"])
def test_a_call_id_must_be_nine_alphanumerics_and_nothing_after(call_id: str) -> None:
    call = {"id": call_id, "function": {"name": "a", "arguments": {}}}
    with pytest.raises(InvalidRequest, match="must be a-z"):
        check(
            [
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "content": "r"},
            ]
        )
    with pytest.raises(InvalidRequest, match="must be a-z"):
        check(
            [
                {"role": "user", "content": "x"},
                {"role": "assistant", "tool_calls": [{**call, "id": "abcDEF123"}]},
                {"role": "tool", "content": "r", "tool_call_id": call_id},
            ]
        )
