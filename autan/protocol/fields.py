"""Constrained types for what clients send: text the databases can store, numbers their
columns can hold. Used by the wire schemas and by the routes' query and path parameters, so
bad input is a 422 at the edge, the same on SQLite and PostgreSQL, never a 500 from the
database (PostgreSQL refuses a NUL character, a string longer than its column and an integer
beyond its column's range; SQLite and PostgreSQL both refuse an OFFSET past 64 bits).
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le
from pydantic import AfterValidator, StringConstraints

INT32_MAX = 2**31 - 1
# The longest value of a name column (``String(255)``): key and workspace names, models.
NAME_LENGTH = 255
# Longest stored file name (``files.filename``) and batch ``custom_id``.
FILENAME_LENGTH = 512
# Longest stored MIME type (``files.mimetype``).
MIMETYPE_LENGTH = 128


def _storable(value: str) -> str:
    """PostgreSQL text holds neither NUL nor a lone surrogate (not UTF-8); refuse both
    everywhere so the two databases accept the same input."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL (\\u0000) character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError("must be valid Unicode text (a lone surrogate was sent)") from e
    return value


def storable_text_error(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None: for input that no schema parses (form fields,
    file names)."""
    try:
        _storable(value)
    except ValueError as e:
        return str(e)
    return None


# Any text kept or looked up in the database: no NUL, valid Unicode.
Text = Annotated[str, AfterValidator(_storable)]
# A name or description kept in a ``String(255)`` column, or matched against one.
Name = Annotated[Text, StringConstraints(max_length=NAME_LENGTH)]
# An id in a path, a query or a body (ours are 36-character UUIDs; models' ids are names).
Identifier = Annotated[Text, StringConstraints(max_length=NAME_LENGTH)]
# A query filter (a search substring, a purpose, a status...).
Filter = Annotated[Text, StringConstraints(max_length=FILENAME_LENGTH)]
# Page numbers and offsets: page * page_size (at most 1000) stays well inside 64 bits.
PageIndex = Annotated[int, Ge(0), Le(INT32_MAX)]
Offset = Annotated[int, Ge(0), Le(INT32_MAX)]
# A count kept in an ``Integer`` column (32 bits on PostgreSQL): per-minute limits.
PositiveInt32 = Annotated[int, Ge(1), Le(INT32_MAX)]
