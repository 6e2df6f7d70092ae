"""One generation in flight: its prompt, its slot in the KV cache, its sampler and its output."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from autan.inference.constraints import Constraint
from autan.inference.detokenizer import Detokenizer
from autan.inference.sampling import Sampler, SamplingParams
from autan.inference.stop import StopMatcher

FinishReason = str  # "stop" | "length" | "error"


@dataclass(frozen=True, slots=True)
class SequenceOutput:
    """What one scheduler step produced for one sequence."""

    text: str
    completion_tokens: int
    finish_reason: FinishReason | None = None
    error: str | None = None


class Priority(enum.IntEnum):
    """Interactive requests are admitted before batch lines (lower value first)."""

    INTERACTIVE = 0
    BATCH = 1


class SequenceStatus(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(eq=False, slots=True)
class Sequence:
    """Mutable per-request state owned by the scheduler thread (``cancelled`` excepted)."""

    prompt: list[int]
    params: SamplingParams
    emit: Callable[[SequenceOutput], None]
    max_new_tokens: int
    sampler: Sampler
    detokenizer: Detokenizer
    stop: StopMatcher
    constraint: Constraint | None = None
    status: SequenceStatus = SequenceStatus.WAITING
    slot: int = -1
    n_cached: int = 0  # tokens of this sequence already in its slot's KV cells
    output: list[int] = field(default_factory=list)
    cancelled: bool = False
    priority: Priority = Priority.INTERACTIVE

    @classmethod
    def create(
        cls,
        prompt: list[int],
        params: SamplingParams,
        emit: Callable[[SequenceOutput], None],
        *,
        context: int,
        piece: Callable[[int], bytes],
        constraint: Constraint | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> Sequence:
        room = context - len(prompt)
        limit = room if params.max_tokens is None else min(params.max_tokens, room)
        return cls(
            prompt=prompt,
            params=params,
            emit=emit,
            max_new_tokens=limit,
            sampler=Sampler(params),
            detokenizer=Detokenizer(piece),
            stop=StopMatcher(params.stop),
            constraint=constraint,
            priority=priority,
        )

    @property
    def tokens(self) -> list[int]:
        """Every token of the sequence so far: prompt then output."""
        return self.prompt + self.output

    @property
    def length(self) -> int:
        """Tokens so far, prompt and output, without building the list."""
        return len(self.prompt) + len(self.output)

    @property
    def prefilling(self) -> bool:
        return self.n_cached < len(self.prompt)

    def pending(self, budget: int) -> list[int]:
        """Tokens to feed next: a prefill chunk of at most ``budget``, or the last sampled one."""
        if self.prefilling:
            return self.prompt[self.n_cached : self.n_cached + budget]
        return [self.output[-1]]
