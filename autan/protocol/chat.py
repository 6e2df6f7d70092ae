"""Chat completions: request, response and stream chunk schemas (Mistral API v1 section 3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from autan.protocol.public import Nullable, PublicModel

# Requests reject unknown fields as the real API does (422 extra_forbidden); responses are
# PublicModels, which leave out what is None unless the spec lets it be null.


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextChunk(_Request):
    type: Literal["text"] = "text"
    text: str


class ImageURL(_Request):
    url: str
    detail: Literal["low", "auto", "high"] | None = None


class ImageURLChunk(_Request):
    type: Literal["image_url"] = "image_url"
    image_url: str | ImageURL


class DocumentURLChunk(_Request):
    type: Literal["document_url"] = "document_url"
    document_url: str
    document_name: str | None = None


class ReferenceChunk(_Request):
    type: Literal["reference"] = "reference"
    reference_ids: list[int | str]


class FileChunk(_Request):
    type: Literal["file"] = "file"
    file_id: str


class ThinkChunk(_Request):
    type: Literal["thinking"] = "thinking"
    thinking: list[dict[str, Any]]
    signature: str | None = None
    closed: bool | None = None


class InputAudioChunk(_Request):
    type: Literal["input_audio"] = "input_audio"
    input_audio: str


ContentChunk = Annotated[
    TextChunk
    | ImageURLChunk
    | DocumentURLChunk
    | ReferenceChunk
    | FileChunk
    | ThinkChunk
    | InputAudioChunk,
    Field(discriminator="type"),
]
Content = str | list[ContentChunk]


class FunctionCall(_Request):
    name: str
    arguments: str | dict[str, Any]


class ToolCall(_Request):
    id: str | None = "null"
    type: Literal["function"] | None = "function"
    function: FunctionCall
    index: int | None = 0


class SystemMessage(_Request):
    role: Literal["system"] = "system"
    content: Content


class UserMessage(_Request):
    role: Literal["user"] = "user"
    content: Content | None


class AssistantMessage(_Request):
    role: Literal["assistant"] = "assistant"
    content: Content | None = None
    tool_calls: list[ToolCall] | None = None
    prefix: bool = False


class ToolMessage(_Request):
    role: Literal["tool"] = "tool"
    content: Content | None
    tool_call_id: str | None = None
    name: str | None = None


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]


class Function(_Request):
    name: str
    description: str | None = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    strict: bool | None = False


class FunctionTool(_Request):
    type: Literal["function"] = "function"
    function: Function


class BuiltinTool(BaseModel):
    """Web search, code interpreter, connectors: accepted by the schema, refused later."""

    model_config = ConfigDict(extra="allow")
    type: Literal[
        "web_search",
        "web_search_premium",
        "code_interpreter",
        "image_generation",
        "document_library",
        "connector",
    ]


Tool = Annotated[FunctionTool | BuiltinTool, Field(discriminator="type")]


class FunctionName(_Request):
    name: str


class NamedToolChoice(_Request):
    type: Literal["function"] = "function"
    function: FunctionName


ToolChoice = Literal["auto", "none", "any", "required"] | NamedToolChoice


class JsonSchema(_Request):
    name: str
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = False


class ResponseFormat(_Request):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchema | None = None


class Prediction(_Request):
    type: Literal["content"] = "content"
    content: str = ""


class StreamOptions(_Request):
    include_usage: bool | None = None


class ChatCompletionRequest(_Request):
    """``POST /v1/chat/completions``. OpenAI spellings (``seed``, ``max_completion_tokens``) are
    accepted as aliases so the ``openai`` SDK works unchanged."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: str
    messages: list[Message]
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("max_tokens", "max_completion_tokens")
    )
    stream: bool = False
    stop: str | list[str] | None = None
    random_seed: int | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("random_seed", "seed")
    )
    metadata: dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice = "auto"
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    n: int | None = Field(default=None, ge=1, le=16)
    prediction: Prediction | None = None
    parallel_tool_calls: bool = True
    reasoning_effort: str | None = None
    prompt_mode: Literal["reasoning"] | None = None
    guardrails: list[dict[str, Any]] | None = None
    prompt_cache_key: str | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    safe_prompt: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None


class UsageInfo(PublicModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ToolCallPublic(PublicModel):
    id: str
    type: Literal["function"] = "function"
    function: dict[str, str]
    index: int = 0


class AssistantMessagePublic(PublicModel):
    role: Literal["assistant"] = "assistant"
    content: Nullable[str] = ""
    tool_calls: Nullable[list[ToolCallPublic]] = None
    prefix: bool = False


FinishReason = Literal["stop", "length", "model_length", "error", "tool_calls"]


class ChatCompletionChoice(PublicModel):
    index: int
    message: AssistantMessagePublic
    finish_reason: FinishReason


class ChatCompletionResponse(PublicModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatCompletionChoice]
    usage: UsageInfo


class DeltaMessage(PublicModel):
    """Only what this chunk adds: the role on the first, then content or calls."""

    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallPublic] | None = None


class CompletionResponseStreamChoice(PublicModel):
    index: int
    delta: DeltaMessage
    # Null until the last chunk of the choice, but always there: the TypeScript SDK needs it.
    finish_reason: Nullable[FinishReason]


class CompletionChunk(PublicModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[CompletionResponseStreamChoice]
    usage: UsageInfo | None = None  # on the last chunk only
