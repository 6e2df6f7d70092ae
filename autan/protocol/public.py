"""The base of every response schema: a field left None is omitted from the reply.

Mistral leaves absent fields out, and typed clients hold replies to its spec: the TypeScript
SDK refuses a stream chunk whose ``usage`` is null, and the Vercel AI SDK one whose delta
``role`` is. Where the spec has a field that is nullable and the null says something (a stream
chunk's ``finish_reason``, an API key's ``expiration_date``), it is declared ``Nullable[X]``
and goes out as null.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

_T = TypeVar("_T")


class _KeepNull:
    """Field metadata: the field goes on the wire as null when it is None."""

    def __repr__(self) -> str:
        return "KEEP_NULL"


KEEP_NULL = _KeepNull()

Nullable = Annotated[_T | None, KEEP_NULL]


class PublicModel(BaseModel):
    # The published schema is the fields' own, with those that have a default not required:
    # the serializer below only leaves keys out.
    model_config = ConfigDict(json_schema_mode_override="validation")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__pydantic_complete__:
            _nullable_keys(cls)

    # No return annotation: pydantic would publish it as the schema of every reply.
    @model_serializer(mode="wrap")
    def _omit_none(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data: dict[str, Any] = handler(self)
        keep = _nullable_keys(type(self))
        return {k: v for k, v in data.items() if v is not None or k in keep}


@cache
def _nullable_keys(model: type[PublicModel]) -> frozenset[str]:
    """The keys of ``model``'s Nullable fields (names and aliases). Read once the model is
    complete: a field's ``Nullable`` is only known once its annotation could be evaluated."""
    keep: set[str] = set()
    for name, info in model.model_fields.items():
        if KEEP_NULL in info.metadata:
            keep |= {name, info.serialization_alias or name, info.alias or name}
        else:
            # A required field that takes None would be dropped, and the reply refused.
            assert not info.is_required() or not _admits_none(info.annotation), (
                f"{model.__name__}.{name} is required and may be None: declare it Nullable"
            )
    return frozenset(keep)


def _admits_none(annotation: Any) -> bool:
    return annotation is None or type(None) in get_args(annotation)
