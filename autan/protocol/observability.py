"""Wire schemas of Mistral's observability API for chat completion events (the request log)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from autan.protocol.public import Nullable, PublicModel

Operator = Literal[
    "lt",
    "lte",
    "gt",
    "gte",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "contains",
    "icontains",
    "matches",
    "notcontains",
    "inotcontains",
    "eq",
    "neq",
    "isnull",
    "includes",
    "excludes",
    "len_eq",
]
FieldType = Literal["ENUM", "TEXT", "INT", "FLOAT", "BOOL", "TIMESTAMP", "ARRAY", "MAP"]
# A field's name: ours are short; anything longer names none of them.
FieldName = Annotated[str, Field(max_length=64)]


class FilterCondition(BaseModel):
    field: FieldName
    op: Operator
    value: Any


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "condition" if "field" in value or "op" in value else "group"
    return "condition" if isinstance(value, FilterCondition) else "group"


Filter = Annotated[
    Annotated["FilterGroup", Tag("group")] | Annotated[FilterCondition, Tag("condition")],
    Discriminator(_kind),
]


class FilterGroup(BaseModel):
    """Conditions (or groups) that must all hold (``AND``) or of which one must (``OR``);
    with both, both."""

    model_config = ConfigDict(populate_by_name=True)

    and_: list[Filter] | None = Field(default=None, alias="AND")
    or_: list[Filter] | None = Field(default=None, alias="OR")


class FilterPayload(BaseModel):
    filters: Filter | None


class SearchChatCompletionEventsRequest(BaseModel):
    search_params: FilterPayload
    # Fields to return in each event's ``extra_fields``; unset: every field.
    extra_fields: list[FieldName] | None = Field(default=None, max_length=64)


class SearchChatCompletionEventIdsRequest(SearchChatCompletionEventsRequest):
    pass


class FetchFieldOptionCountsRequest(BaseModel):
    filter_params: FilterPayload | None = None


ExtraValue = bool | int | float | str | datetime | list[str] | dict[str, str] | None


class ChatCompletionEventPreview(PublicModel):
    event_id: str
    correlation_id: str
    created_at: datetime
    extra_fields: dict[str, ExtraValue]
    nb_input_tokens: int
    nb_output_tokens: int


class ChatCompletionEvent(ChatCompletionEventPreview):
    enabled_tools: list[dict[str, Any]]
    request_messages: list[dict[str, Any]]
    response_messages: list[dict[str, Any]]
    nb_messages: int
    chat_transcription_events: list[dict[str, Any]] = Field(default_factory=list)


class FeedResultChatCompletionEventPreview(PublicModel):
    results: list[ChatCompletionEventPreview]
    next: Nullable[str] = None
    cursor: Nullable[str] = None


class SearchChatCompletionEventsResponse(PublicModel):
    completion_events: FeedResultChatCompletionEventPreview


class SearchChatCompletionEventIdsResponse(PublicModel):
    completion_event_ids: list[str]


class BaseFieldDefinition(PublicModel):
    name: str
    label: str
    type: FieldType
    group: Nullable[str] = None
    supported_operators: list[Operator]


class FieldGroup(PublicModel):
    name: str
    label: str


class ListChatCompletionFieldsResponse(PublicModel):
    field_definitions: list[BaseFieldDefinition]
    field_groups: list[FieldGroup]


class FetchChatCompletionFieldOptionsResponse(PublicModel):
    options: Nullable[list[str | bool | None]] = None


class FieldOptionCountItem(PublicModel):
    value: str
    count: int


class FetchFieldOptionCountsResponse(PublicModel):
    counts: list[FieldOptionCountItem]


class RequestBucketPublic(PublicModel):
    start: datetime
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_p50_ms: Nullable[float] = None
    latency_p95_ms: Nullable[float] = None
    ttft_p50_ms: Nullable[float] = None


class RequestStatsPublic(PublicModel):
    object: Literal["request.stats"] = "request.stats"
    start: datetime
    end: datetime
    bucket: Literal["hour", "day"]
    data: list[RequestBucketPublic]
