import json
from pathlib import Path
from typing import Any

import pytest

from autan.errors import InvalidTrainingData
from autan.fine_tuning.dataset import Dataset


def _chat(question: str = "Hi?", answer: str = "Hello.") -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def _write(tmp_path: Path, lines: list[Any]) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def _reasons(tmp_path: Path, lines: list[Any], **kwargs: Any) -> list[str]:
    with pytest.raises(InvalidTrainingData) as e:
        Dataset.read(_write(tmp_path, lines), **kwargs)
    return e.value.reasons


def test_valid_conversations_are_read(tmp_path: Path) -> None:
    tool_call = {
        "id": "abcDEF123",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
    }
    lines = [
        _chat(),
        {"messages": [{"role": "system", "content": "Be brief."}, *_chat()["messages"]]},
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [tool_call]},
                {"role": "tool", "tool_call_id": "abcDEF123", "content": "18C"},
                {"role": "assistant", "content": [{"type": "text", "text": "It is 18C."}]},
            ],
            "tools": [{"type": "function", "function": {"name": "weather"}}],
        },
    ]
    dataset = Dataset.read(_write(tmp_path, lines), min_examples=3)
    assert [c.line for c in dataset.conversations] == [1, 2, 3]
    assert dataset.skipped == []


def test_each_broken_line_is_reported_with_its_number(tmp_path: Path) -> None:
    reasons = _reasons(
        tmp_path,
        [
            _chat(),
            "{not json",
            {"prompt": "x"},
            {"messages": [{"role": "user", "content": "Hi"}]},
            {"messages": [{"role": "assistant", "content": "Hi"}]},
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "user", "content": "b"},
                    {"role": "assistant", "content": "c"},
                ]
            },
            {"messages": [{"role": "robot", "content": "a"}]},
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]},
        ],
    )
    assert reasons[0].startswith("line 2: not valid JSON")
    assert reasons[1] == "line 3: `messages` must be a non-empty list"
    assert reasons[2] == "line 4: the last message must be from the assistant, not user"
    assert reasons[3].startswith("line 5: the first message must be from the system or the user")
    assert reasons[4] == "line 6: message 1: a user message cannot follow a user message"
    assert reasons[5].startswith("line 7: message 0 has role 'robot'")
    assert reasons[6] == "line 8: message 1: an assistant message needs content or tool_calls"


def test_tool_calls_must_be_well_formed(tmp_path: Path) -> None:
    def with_call(call: dict[str, Any], answer_id: str = "abcDEF123") -> dict[str, Any]:
        return {
            "messages": [
                {"role": "user", "content": "?"},
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": answer_id, "content": "ok"},
                {"role": "assistant", "content": "done"},
            ]
        }

    good = {"id": "abcDEF123", "function": {"name": "f", "arguments": "{}"}}
    reasons = _reasons(
        tmp_path,
        [
            with_call(good),
            with_call({**good, "id": "short"}),
            with_call({"id": "abcDEF123", "function": {"arguments": "{}"}}),
            with_call({**good, "function": {"name": "f", "arguments": "{oops"}}),
            with_call(good, answer_id="zzzzzzzzz"),
            {
                "messages": [
                    {"role": "user", "content": "?"},
                    {"role": "tool", "content": "x"},
                    {"role": "assistant", "content": "y"},
                ]
            },
        ],
    )
    assert reasons == [
        "line 2: message 1, tool call 0: `id` must be 9 characters from [a-zA-Z0-9]",
        "line 3: message 1, tool call 0: needs `function` with a `name`",
        "line 4: message 1, tool call 0: `arguments` is not valid JSON",
        "line 5: message 2: tool_call_id 'zzzzzzzzz' answers no call made",
        "line 6: message 1: a tool message cannot follow a user message",
    ]


def test_too_few_examples(tmp_path: Path) -> None:
    reasons = _reasons(tmp_path, [_chat(), _chat()], min_examples=10)
    assert reasons == ["train.jsonl has 2 valid examples; at least 10 are needed"]


def test_a_few_broken_lines_can_be_skipped(tmp_path: Path) -> None:
    lines = [_chat()] * 9 + ["[]"]
    dataset = Dataset.read(_write(tmp_path, lines), skip_fraction=0.1)
    assert len(dataset.conversations) == 9
    assert dataset.skipped == ["line 10: expected a JSON object with a `messages` list"]
    assert _reasons(tmp_path, lines, skip_fraction=0.05)


def test_a_call_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    call = {"id": "abcDEF123\n", "function": {"name": "f", "arguments": "{}"}}
    line = {
        "messages": [
            {"role": "user", "content": "?"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "abcDEF123\n", "content": "ok"},
            {"role": "assistant", "content": "done"},
        ]
    }
    assert _reasons(tmp_path, [_chat(), line]) == [
        "line 2: message 1, tool call 0: `id` must be 9 characters from [a-zA-Z0-9]"
    ]
