"""The fields of a chat completion event (a request log record) that can be searched, shown
and counted, as the observability API describes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from autan.storage.request_log_tables import RequestLogRow

_ORDER = ("lt", "lte", "gt", "gte", "eq", "neq")
_TEXT: tuple[str, ...] = ("eq", "neq", "startswith", "istartswith", "endswith", "iendswith")
_TEXT += ("contains", "icontains", "notcontains", "inotcontains", "includes", "excludes", "isnull")
_NUMBER = (*_ORDER, "includes", "excludes", "isnull")

GROUPS = (("request", "Request"), ("usage", "Usage"), ("timing", "Timing"))


@dataclass(frozen=True, slots=True)
class EventField:
    name: str
    label: str
    type: str  # ENUM, TEXT, INT, FLOAT, BOOL, TIMESTAMP
    group: str
    column: Any  # the RequestLogRow column it reads
    operators: tuple[str, ...]

    @property
    def has_options(self) -> bool:
        """Whether its values are few enough to list and count (``options``)."""
        return self.type in ("ENUM", "BOOL") or self.name == "status"


_FIELDS = (
    EventField("created_at", "Time", "TIMESTAMP", "request", RequestLogRow.created_at, _ORDER),
    EventField("correlation_id", "Request id", "TEXT", "request", RequestLogRow.request_id, _TEXT),
    EventField("workspace_id", "Workspace", "ENUM", "request", RequestLogRow.workspace_id, _TEXT),
    EventField("api_key_id", "API key", "ENUM", "request", RequestLogRow.key_id, _TEXT),
    EventField("endpoint", "Endpoint", "ENUM", "request", RequestLogRow.endpoint, _TEXT),
    EventField("method", "Method", "ENUM", "request", RequestLogRow.method, _TEXT),
    EventField("model", "Model", "ENUM", "request", RequestLogRow.model, _TEXT),
    EventField("status", "Status", "INT", "request", RequestLogRow.status, _NUMBER),
    EventField("error_code", "Error code", "ENUM", "request", RequestLogRow.error_code, _TEXT),
    EventField(
        "finish_reason", "Finish reason", "ENUM", "request", RequestLogRow.finish_reason, _TEXT
    ),
    EventField("stream", "Streamed", "BOOL", "request", RequestLogRow.stream, ("eq", "neq")),
    EventField("batch_job_id", "Batch job", "TEXT", "request", RequestLogRow.batch_job_id, _TEXT),
    EventField("deployment", "Deployment", "ENUM", "request", RequestLogRow.deployment, _TEXT),
    EventField("nb_messages", "Messages", "INT", "request", RequestLogRow.nb_messages, _NUMBER),
    EventField(
        "nb_input_tokens", "Prompt tokens", "INT", "usage", RequestLogRow.prompt_tokens, _NUMBER
    ),
    EventField(
        "nb_output_tokens",
        "Completion tokens",
        "INT",
        "usage",
        RequestLogRow.completion_tokens,
        _NUMBER,
    ),
    EventField("cost", "Cost", "FLOAT", "usage", RequestLogRow.cost, _NUMBER),
    EventField("latency_ms", "Latency (ms)", "FLOAT", "timing", RequestLogRow.latency_ms, _NUMBER),
    EventField(
        "ttft_ms", "Time to first token (ms)", "FLOAT", "timing", RequestLogRow.ttft_ms, _NUMBER
    ),
    EventField("queue_ms", "Time queued (ms)", "FLOAT", "timing", RequestLogRow.queue_ms, _NUMBER),
)

FIELDS: dict[str, EventField] = {f.name: f for f in _FIELDS}


def field_values(row: RequestLogRow, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``row``'s values of the fields ``names`` (every field when None); times in UTC."""
    chosen = FIELDS if names is None else names
    values = {name: getattr(row, FIELDS[name].column.key) for name in chosen}
    if "created_at" in values:
        values["created_at"] = row.created_at.replace(tzinfo=UTC)
    return values
