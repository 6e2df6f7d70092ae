"""What a completion passes through between its prompt and the engine: the caller's limits.

The chat and FIM services know the prompt's size and the most tokens a reply may take before
anything is queued; whoever governs the caller (``accounts.meter.Meter``) is told then, may
refuse by raising, and is told the final usage once the completion ends, however it ends.
Both are coroutines: the limits live in Redis and the database, which are never waited on on
the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from autan.protocol.chat import UsageInfo


class AdmittedModel(Protocol):
    """What a caller's limits need to know of where a completion runs: a loaded model
    (``models.registry.ServedModel``) or a routed model's deployment."""

    @property
    def id(self) -> str: ...

    @property
    def aliases(self) -> Sequence[str]: ...

    @property
    def workspace(self) -> str | None: ...

    @property
    def deployment(self) -> str:
        """The deployment that answers: ``local`` for this server's engine."""
        ...

    @property
    def price(self) -> tuple[float, float] | None:
        """Input and output price per million tokens when the deployment sets its own."""
        ...


class Admission(Protocol):
    async def admit(
        self, model: AdmittedModel, requested: str, prompt_tokens: int, max_new_tokens: int
    ) -> None:
        """Reserve for a completion of at most ``prompt_tokens + max_new_tokens`` on ``model``
        (asked for as ``requested``), or raise to refuse it."""
        ...

    async def settle(self, usage: UsageInfo) -> None:
        """The completion is over: ``usage`` is what it really took. Called once, and awaited
        before the end of the answer is sent."""
        ...
