"""Every response schema against Mistral's spec: a field the spec does not let be null is never
sent as null, and a field it requires is always there."""

from __future__ import annotations

import types
from datetime import UTC, date, datetime
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from autan.protocol import admin, batch, chat, embeddings, files, fine_tuning, models
from autan.protocol.public import Nullable, PublicModel
from tests.protocol.spec import spec_errors

# Our schema -> the spec's component for it (legacy: fine-tuning, from the legacy document).
RESPONSES: list[tuple[type[BaseModel], str, bool]] = [
    (chat.ChatCompletionResponse, "ChatCompletionResponse", False),
    (chat.ChatCompletionResponse, "FIMCompletionResponse", False),
    (chat.CompletionChunk, "CompletionChunk", False),
    (embeddings.EmbeddingResponse, "EmbeddingResponse", False),
    (models.ModelListPublic, "ModelList", False),
    (models.ModelCardPublic, "BaseModelCard", False),
    (models.FineTunedModelCardPublic, "FTModelCard", False),
    (models.ModelDeletedPublic, "DeleteModelResponse", False),
    (files.FilePublic, "CreateFileResponse", False),
    (files.FileRetrievedPublic, "GetFileResponse", False),
    (files.FileListPublic, "ListFilesResponse", False),
    (files.FileDeletedPublic, "DeleteFileResponse", False),
    (files.FileSignedUrlPublic, "GetSignedUrlResponse", False),
    (batch.BatchJobPublic, "BatchJob", False),
    (batch.BatchJobListPublic, "ListBatchJobsResponse", False),
    (batch.BatchJobDeletedPublic, "DeleteBatchJobResponse", False),
    (admin.ApiKeyPublic, "APIKeyOUT", False),
    (admin.ApiKeyListPublic, "APIKeysExtendedOUT", False),
    (admin.ApiKeyDeletedPublic, "DeleteAPIKeyOUT", False),
    (admin.WorkspacePublic, "WorkspaceOUT", False),
    (admin.WorkspaceCreatedPublic, "WorkspaceEnrichedOUT", False),
    (admin.WorkspaceListPublic, "WorkspacesOut", False),
    (admin.RateLimitsPublic, "RateLimitsOUT", False),
    (admin.LimitsPublic, "LimitsOUT", False),
    (admin.UsagePublic, "UsageOUTJSON", False),
    (admin.AuditLogPublic, "AuditLogOut", False),
    (fine_tuning.FineTuningJobListPublic, "JobsOut", True),
    (fine_tuning.FineTuningJobPublic, "CompletionJobOut", True),
    (fine_tuning.FineTuningJobDetailedPublic, "CompletionDetailedJobOut", True),
    (fine_tuning.LegacyJobMetadataPublic, "LegacyJobMetadataOut", True),
    (fine_tuning.FineTunedModelPublic, "CompletionFTModelOut", True),
    (fine_tuning.ArchivedModelPublic, "ArchiveFTModelOut", True),
    (fine_tuning.ArchivedModelPublic, "UnarchiveFTModelOut", True),
]


# Values the field's type does not pin down: what the code that fills them puts there.
OVERRIDES: dict[tuple[type[BaseModel], str], Any] = {
    (chat.ToolCallPublic, "function"): {"name": "get_weather", "arguments": "{}"},
    (admin.AuditLogPublic, "event_type"): "api_key.create",
    (admin.AuditLogPublic, "target_type"): "API_KEY",
    (admin.UsagePublic, "prices"): [],
    (fine_tuning.FineTuningJobPublic, "integrations"): [],
    (fine_tuning.FineTuningJobDetailedPublic, "integrations"): [],
}


def _value(annotation: Any, *, sparse: bool) -> Any:
    """A value of ``annotation``: None wherever None is allowed when ``sparse``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is type(None):
        return None
    if origin in (Union, types.UnionType):
        if sparse and type(None) in args:
            return None
        return _value(next(a for a in args if a is not type(None)), sparse=sparse)
    if origin is Literal:
        return args[0]
    if origin is list:
        return [_value(args[0], sparse=sparse)]
    if origin is dict or annotation is dict:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return sample(annotation, sparse=sparse)
    simple = {str: "x", int: 128, float: 0.5, bool: True, Any: {}}
    if annotation in simple:
        return simple[annotation]
    if annotation is datetime:
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    if annotation is date:
        return date(2026, 1, 2)
    raise AssertionError(f"no sample value for {annotation!r}")


def sample(model: type[BaseModel], *, sparse: bool) -> BaseModel:
    """An instance of ``model``. Sparse: every field that may be None is None, the others
    take their defaults or a value. Full: fields that default to None hold a value too."""
    fields = {}
    for name, info in model.model_fields.items():
        may_be_none = type(None) in get_args(info.annotation)
        if (model, name) in OVERRIDES and not (sparse and may_be_none):
            fields[name] = OVERRIDES[model, name]
        elif info.is_required() or (may_be_none and (sparse or info.default is None)):
            fields[name] = _value(info.annotation, sparse=sparse)
    return model.model_validate(fields)


@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "full"])
@pytest.mark.parametrize(
    ("model", "component", "legacy"), RESPONSES, ids=[f"{c}" for _, c, _ in RESPONSES]
)
def test_responses_match_the_spec(
    model: type[BaseModel], component: str, legacy: bool, sparse: bool
) -> None:
    body = sample(model, sparse=sparse).model_dump(mode="json")
    assert spec_errors(component, body, legacy=legacy) == []


def _reachable(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = {model}
    todo = [model]
    while todo:
        for info in todo.pop().model_fields.values():
            stack = [info.annotation]
            while stack:
                t = stack.pop()
                stack += get_args(t)
                if isinstance(t, type) and issubclass(t, BaseModel) and t not in found:
                    found.add(t)
                    todo.append(t)
    return found


def test_every_schema_in_a_reply_is_public() -> None:
    models = set().union(*(_reachable(m) for m, _, _ in RESPONSES))
    assert {m.__name__ for m in models if not issubclass(m, PublicModel)} == set()


class _Reply(PublicModel):
    kept: Nullable[str] = None
    dropped: str | None = None
    required: Nullable[int]


def test_none_is_left_out_unless_the_field_is_nullable() -> None:
    reply = _Reply(required=None)
    assert reply.model_dump() == {"kept": None, "required": None}
    assert reply.model_dump_json() == '{"kept":null,"required":null}'
    assert _Reply(dropped="x", required=1).model_dump() == {
        "kept": None,
        "dropped": "x",
        "required": 1,
    }


def test_a_required_field_that_may_be_none_must_be_declared_nullable() -> None:
    with pytest.raises(AssertionError, match="declare it Nullable"):

        class _Broken(PublicModel):
            value: int | None


def test_the_published_schema_is_the_fields_own() -> None:
    schema = _Reply.model_json_schema(mode="serialization")
    assert set(schema["properties"]) == {"kept", "dropped", "required"}
    assert schema["required"] == ["required"]


class _Outer(PublicModel):
    inner: Nullable[_Inner] = None  # defined below: the model is completed later


class _Inner(PublicModel):
    x: int = 1


def test_a_nullable_field_of_a_model_completed_later_is_kept() -> None:
    _Outer.model_rebuild()
    assert _Outer().model_dump() == {"inner": None}
    assert _Outer(inner=_Inner()).model_dump() == {"inner": {"x": 1}}
