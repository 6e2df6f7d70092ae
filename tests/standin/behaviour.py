"""How the stand-in misbehaves: set with ``POST /_standin/behaviour``, taken by each API request."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

_FIELDS = {
    "status": int,
    "retry_after": (int, float),
    "count": int,
    "delay_ms": (int, float),
    "die_after_chunks": int,
    "break_schema": bool,
    "token_delay_ms": (int, float),
}


@dataclass(frozen=True)
class Behaviour:
    """What one API request gets. ``status`` answers it with that error (``retry_after`` adds a
    Retry-After header); ``delay_ms`` waits before the first byte; ``token_delay_ms`` between
    stream chunks; ``die_after_chunks`` closes the connection after that many stream events (a
    whole reply is cut in half); ``break_schema`` makes tool arguments and ``json_schema``
    content violate their schema. ``count`` is how many requests it applies to before the
    server's default returns (None: until it is replaced)."""

    status: int | None = None
    retry_after: float | None = None
    count: int | None = None
    delay_ms: float = 0
    die_after_chunks: int | None = None
    break_schema: bool = False
    token_delay_ms: float = 0

    @classmethod
    def from_json(cls, data: Any) -> Behaviour:
        if not isinstance(data, dict):
            raise ValueError("the behaviour is a JSON object")
        for key, value in data.items():
            kind = _FIELDS.get(key)
            if kind is None:
                raise ValueError(f"unknown behaviour field {key!r}; known: {sorted(_FIELDS)}")
            if value is not None and (
                not isinstance(value, kind) or (kind is int and isinstance(value, bool))
            ):
                raise ValueError(f"behaviour field {key!r} has the wrong type")
        status = data.get("status")
        if status is not None and not 100 <= status <= 599:
            raise ValueError("status is an HTTP status code")
        count = data.get("count")
        if count is not None and count < 1:
            raise ValueError("count is at least 1")
        return cls(**{k: v for k, v in data.items() if v is not None})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Behaviours:
    """The behaviour in force and the server's default that it falls back to."""

    def __init__(self, default: Behaviour) -> None:
        self.default = default
        self.current = default

    def set(self, behaviour: Behaviour) -> None:
        self.current = behaviour

    def reset(self) -> None:
        self.current = self.default

    def take(self) -> Behaviour:
        """The behaviour for the next API request, counting it down."""
        taken = self.current
        if taken.count is not None:
            self.current = (
                self.default if taken.count <= 1 else replace(taken, count=taken.count - 1)
            )
        return taken
