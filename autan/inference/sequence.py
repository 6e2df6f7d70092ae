"""One generation in flight: its prompt, its slot in the KV cache, its sampler and its output."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from autan.inference.constraints import Constraint
from autan.inference.detokenizer import Detokenizer
from autan.inference.reply_budget import ReplyBudget
from autan.inference.sampling import Logits, Sampler, SamplingParams
from autan.inference.speculation import PromptLookup
from autan.inference.stop import StopMatcher

FinishReason = str  # "stop" | "length" | "error"


@dataclass(slots=True)
class SequenceTimings:
    """When a sequence passed each point, in ``time.perf_counter`` seconds (0.0: not yet).

    ``arrived``: queued to the engine; ``admitted``: given a slot; ``first_token``: its first
    token sampled (the end of prefill); ``finished``: retired. ``token_gaps`` holds the seconds
    between consecutive output tokens; ``cached_tokens`` the prompt tokens found in KV.
    Written by the engine thread only; read once the final output carries it.
    """

    arrived: float = field(default_factory=time.perf_counter)
    admitted: float = 0.0
    first_token: float = 0.0
    last_token: float = 0.0
    finished: float = 0.0
    cached_tokens: int = 0
    token_gaps: list[float] = field(default_factory=list)

    def token(self, now: float) -> None:
        if self.first_token == 0.0:
            self.first_token = now
        else:
            self.token_gaps.append(now - self.last_token)
        self.last_token = now


@dataclass(frozen=True, slots=True)
class SequenceOutput:
    """What one scheduler step produced for one sequence; the last one (with a
    ``finish_reason``) carries the sequence's ``timings``."""

    text: str
    completion_tokens: int
    finish_reason: FinishReason | None = None
    error: str | None = None
    timings: SequenceTimings | None = None


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
    budget: ReplyBudget | None = None  # keeps room for the constraint to be completed
    status: SequenceStatus = SequenceStatus.WAITING
    slot: int = -1
    n_cached: int = 0  # tokens of this sequence already in its slot's KV cells
    output: list[int] = field(default_factory=list)
    cancelled: bool = False
    priority: Priority = Priority.INTERACTIVE
    timings: SequenceTimings = field(default_factory=SequenceTimings)
    lookup: PromptLookup | None = None  # its draft source, once it has speculated
    # Its first token's logits, when the prefix cache held the whole prompt (see PrefixCache)
    ready: Logits | None = None

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
        shortest: list[int] | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> Sequence:
        """``shortest``: a short completion of ``constraint``'s grammar from its start
        (``Grammars.shortest``), so that the reply always has room to end complete."""
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
            budget=None if constraint is None else ReplyBudget.start(constraint, limit, shortest),
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
        """Tokens to feed next: a prefill chunk of at most ``budget``, or the output not yet in
        KV (the last sampled token, and the tokens a grammar forced after it)."""
        if self.prefilling:
            return self.prompt[self.n_cached : self.n_cached + budget]
        return self.output[self.n_cached - len(self.prompt) :]


class SequenceObserver(Protocol):
    """Told of every sequence the scheduler retires, on the engine thread (metrics): it must
    return quickly and never block."""

    def finished(self, seq: Sequence, reason: FinishReason) -> None: ...
