"""The Mistral and OpenAI dialects, field by field."""

from __future__ import annotations

import pytest

from autan.backends.dialect import chat_body, embedding_body, error_message, finish_reason
from autan.chat.prompt import SAFE_PROMPT
from autan.errors import InvalidRequest
from autan.protocol.chat import ChatCompletionRequest
from autan.protocol.embeddings import EmbeddingRequest


def _req(**fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    )


def test_a_conversation_with_calls_and_results_in_openai_words() -> None:
    req = _req(
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "abcDEF123", "function": {"name": "w", "arguments": {"city": "Oslo"}}}
                ],
            },
            {"role": "tool", "content": "cold", "tool_call_id": "abcDEF123", "name": "w"},
        ],
        safe_prompt=True,
    )
    body = chat_body("openai", req, "up")
    system, _user, assistant, tool = body["messages"]
    assert system == {"role": "system", "content": SAFE_PROMPT}
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'
    assert tool == {"role": "tool", "content": "cold", "tool_call_id": "abcDEF123"}
    assert chat_body("mistral", req, "up")["messages"][3]["name"] == "w"


def test_images_are_carried_and_documents_refused_by_openai() -> None:
    image = {"type": "image_url", "image_url": "https://x/cat.png"}
    req = _req(messages=[{"role": "user", "content": [{"type": "text", "text": "?"}, image]}])
    parts = chat_body("openai", req, "up")["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}
    doc = {"type": "document_url", "document_url": "https://x/a.pdf"}
    with pytest.raises(InvalidRequest, match="document_url") as e:
        chat_body("openai", _req(messages=[{"role": "user", "content": [doc]}]), "up")
    assert e.value.param == "messages[0].content"
    assert chat_body("mistral", _req(messages=[{"role": "user", "content": [doc]}]), "up")


def test_tool_choice_words_go_both_ways() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    assert chat_body("openai", _req(tools=[tool], tool_choice="any"), "u")["tool_choice"] == (
        "required"
    )
    assert chat_body("mistral", _req(tools=[tool], tool_choice="required"), "u")["tool_choice"] == (
        "any"
    )
    named = {"type": "function", "function": {"name": "f"}}
    assert chat_body("openai", _req(tools=[tool], tool_choice=named), "u")["tool_choice"] == named


def test_embedding_options_and_what_openai_cannot_carry() -> None:
    req = EmbeddingRequest(model="m", input=["a"], output_dimension=8)
    assert embedding_body("openai", req, "up")["dimensions"] == 8
    assert embedding_body("mistral", req, "up")["output_dimension"] == 8
    with pytest.raises(InvalidRequest, match="output_dtype"):
        embedding_body("openai", EmbeddingRequest(model="m", input="a", output_dtype="int8"), "u")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "bad model", "type": "x"}}', "bad model"),
        (b'{"object": "error", "message": "too long", "type": "x"}', "too long"),
        (b'{"detail": [{"loc": ["body"], "msg": "field required"}]}', "field required"),
        (b"upstream went away", "upstream went away"),
        (b"", "(empty body)"),
    ],
)
def test_error_messages_are_read_in_either_dialect(body: bytes, message: str) -> None:
    assert message in error_message(body)


def test_unknown_finish_reasons_are_errors() -> None:
    assert finish_reason("function_call") == "tool_calls"
    assert finish_reason("content_filter") == "error"


def test_a_schema_is_asked_for_in_the_form_the_deployment_enforces() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object"}}}
    req = _req(response_format=fmt)
    assert chat_body("openai", req, "u")["response_format"]["json_schema"]["name"] == "p"
    assert chat_body("openai", req, "u", "json_object_schema")["response_format"] == {
        "type": "json_object",
        "schema": {"type": "object"},
    }
    assert "response_format" not in chat_body("openai", req, "u", "none")
