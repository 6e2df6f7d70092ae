"""Our wire schemas against what the official SDK sends and expects."""

import json

from mistralai import models as sdk

from autan.protocol.chat import (
    AssistantMessagePublic,
    ChatCompletionChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionChunk,
    CompletionResponseStreamChoice,
    DeltaMessage,
    UsageInfo,
)
from autan.protocol.models import ModelCapabilities, ModelCardPublic, ModelListPublic

# Serialised by the mistralai SDK (see the wire reference, section 1.5).
SDK_BODY = (
    '{"model":"m","messages":[{"content":"hi","role":"user"},{"role":"assistant","tool_calls":'
    '[{"function":{"name":"f","arguments":{"a":1}},"id":"null","type":"function","index":0}],'
    '"prefix":false},{"content":"x","role":"tool","tool_call_id":"abc123DEF"}],"stream":false,'
    '"tools":[{"function":{"name":"f","parameters":{}},"type":"function"}],"tool_choice":"any"}'
)


def test_every_field_the_sdk_sends_is_accepted() -> None:
    req = ChatCompletionRequest.model_validate_json(SDK_BODY)
    assert req.tool_choice == "any"
    assert req.messages[1].tool_calls[0].function.arguments == {"a": 1}  # type: ignore[union-attr]


def test_requests_serialised_by_the_sdk_itself_parse() -> None:
    body = sdk.ChatCompletionRequest(
        model="m",
        messages=[
            sdk.SystemMessage(content="s"),
            sdk.UserMessage(content=[sdk.TextChunk(text="hi")]),
            sdk.AssistantMessage(content="ok", prefix=True),
        ],
        temperature=0.3,
        random_seed=1,
        stop=["x"],
        n=2,
        response_format=sdk.ResponseFormat(type="text"),
    )
    req = ChatCompletionRequest.model_validate_json(body.model_dump_json(by_alias=True))
    assert req.n == 2 and req.random_seed == 1 and req.messages[2].prefix  # type: ignore[union-attr]


def test_response_validates_against_the_sdk_model() -> None:
    ours = ChatCompletionResponse(
        id="a" * 32,
        created=1,
        model="m",
        usage=UsageInfo(prompt_tokens=3, completion_tokens=2, total_tokens=5),
        choices=[
            ChatCompletionChoice(
                index=0, message=AssistantMessagePublic(content="hi"), finish_reason="stop"
            )
        ],
    )
    parsed = sdk.ChatCompletionResponse.model_validate(json.loads(ours.model_dump_json()))
    assert parsed.choices[0].message.content == "hi"
    assert parsed.usage.total_tokens == 5


def test_stream_chunk_validates_against_the_sdk_model() -> None:
    chunk = CompletionChunk(
        id="x",
        created=1,
        model="m",
        choices=[
            CompletionResponseStreamChoice(
                index=0, delta=DeltaMessage(content="a"), finish_reason=None
            )
        ],
    )
    data = json.loads(chunk.model_dump_json())
    assert "finish_reason" in data["choices"][0]
    parsed = sdk.CompletionChunk.model_validate(data)
    assert parsed.choices[0].delta.content == "a"


def test_model_list_validates_against_the_sdk_model() -> None:
    card = ModelCardPublic(
        id="m",
        created=1,
        capabilities=ModelCapabilities(),
        max_context_length=4096,
        aliases=["a"],
    )
    parsed = sdk.ModelList.model_validate(
        json.loads(ModelListPublic(data=[card]).model_dump_json())
    )
    assert parsed.data[0].id == "m"  # type: ignore[index]
