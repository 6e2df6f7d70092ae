"""What a completion passes through between its prompt and the engine: the caller's limits.

The chat and FIM services know the prompt's size and the most tokens a reply may take before
anything is queued; whoever governs the caller (``accounts.meter.Meter``) is told then, may
refuse by raising, and is told the final usage once the completion ends, however it ends.
"""

from __future__ import annotations

from typing import Protocol

from autan.models.registry import ServedModel
from autan.protocol.chat import UsageInfo


class Admission(Protocol):
    def admit(
        self, model: ServedModel, requested: str, prompt_tokens: int, max_new_tokens: int
    ) -> None:
        """Reserve for a completion of at most ``prompt_tokens + max_new_tokens`` on ``model``
        (asked for as ``requested``), or raise to refuse it."""
        ...

    def settle(self, usage: UsageInfo) -> None:
        """The completion is over: ``usage`` is what it really took. Called once."""
        ...
