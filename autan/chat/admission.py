"""What a completion passes through between its prompt and the engine: the caller's limits.

The chat and FIM services know the prompt's size and the most tokens a reply may take before
anything is queued; whoever governs the caller (``accounts.meter.Meter``) is told then, may
refuse by raising, and is told the final usage once the completion ends, however it ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from autan.inference.engine import ChoiceOutput
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


def dispatch(
    admission: Admission | None,
    model: ServedModel,
    requested: str,
    prompt_tokens: int,
    max_new_tokens: int,
    generate: Callable[[], AsyncIterator[ChoiceOutput]],
) -> AsyncIterator[ChoiceOutput]:
    """Admit, then queue; a completion the engine refuses (full, too long) gives back at once
    what it reserved."""
    if admission is None:
        return generate()
    admission.admit(model, requested, prompt_tokens, max_new_tokens)
    try:
        return generate()
    except BaseException:
        admission.settle(UsageInfo(prompt_tokens=0, completion_tokens=0, total_tokens=0))
        raise
