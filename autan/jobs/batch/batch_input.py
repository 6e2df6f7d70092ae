"""Batch input: JSONL lines (or inline requests) turned into the lines a job runs.

A line that is not a JSON object with an object ``body`` does not stop the job: it is kept
with the reason and answered in the error file under its ``custom_id`` (or its line number).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BatchInputLine:
    custom_id: str | None
    body: dict[str, Any] | None
    invalid: str | None = None  # why the line cannot run; None for a runnable line


def _custom_id(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def parse_line(text: str, where: str) -> BatchInputLine:
    try:
        item = json.loads(text)
    except json.JSONDecodeError as e:
        return BatchInputLine(None, None, f"{where}: not valid JSON ({e.msg} at column {e.colno})")
    if not isinstance(item, dict):
        return BatchInputLine(None, None, f"{where}: a line must be a JSON object")
    custom_id = _custom_id(item.get("custom_id"))
    body = item.get("body")
    if not isinstance(body, dict):
        return BatchInputLine(
            custom_id, None, f"{where}: 'body' must be an object holding the request"
        )
    return BatchInputLine(custom_id, body)


def parse_jsonl(chunks: Iterable[bytes], file_id: str) -> Iterator[BatchInputLine]:
    """Every non-blank line of the file, in order; undecodable bytes make that line invalid."""
    pending = b""
    number = 0

    def one(raw: bytes) -> BatchInputLine | None:
        nonlocal number
        number += 1
        where = f"file {file_id} line {number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return BatchInputLine(None, None, f"{where}: not UTF-8 text")
        return parse_line(text, where) if text.strip() else None

    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            if (line := one(raw)) is not None:
                yield line
    if pending and (line := one(pending)) is not None:
        yield line
