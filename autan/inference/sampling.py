"""Per-sequence sampling in numpy: penalties, temperature, nucleus, seeded RNG."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Logits = npt.NDArray[np.float32]

# Candidates kept by the partial sort before the nucleus cut. A 49k-entry argpartition costs
# about a tenth of a full argsort; a nucleus wider than this falls back to the full sort.
_NUCLEUS_CANDIDATES = 256


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """What a request asks of the sampler and of the stop logic."""

    max_tokens: int | None = None
    temperature: float = 0.7
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(slots=True)
class Sampler:
    """Samples one sequence's next token from raw logits; owns its RNG and penalty counts."""

    params: SamplingParams
    rng: np.random.Generator = field(init=False)
    _counts: dict[int, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.params.seed)

    @property
    def _penalised(self) -> bool:
        p = self.params
        return bool(self._counts) and (p.presence_penalty != 0.0 or p.frequency_penalty != 0.0)

    def accept(self, token: int) -> None:
        self._counts[token] = self._counts.get(token, 0) + 1

    def sample(self, logits: Logits, allowed: npt.NDArray[np.bool_] | None = None) -> int:
        """Pick a token. ``logits`` may be a view into llama.cpp memory; it is never written."""
        if self._penalised or allowed is not None:
            logits = logits.copy()
            if self._penalised:
                self._apply_penalties(logits)
            if allowed is not None:
                logits[~allowed[: logits.shape[0]]] = -np.inf
        if self.params.greedy:
            return int(np.argmax(logits))
        return self._sample_random(logits)

    def _apply_penalties(self, logits: Logits) -> None:
        ids = np.fromiter(self._counts.keys(), dtype=np.int64, count=len(self._counts))
        counts = np.fromiter(self._counts.values(), dtype=np.float32, count=len(self._counts))
        p = self.params
        logits[ids] -= counts * np.float32(p.frequency_penalty) + np.float32(p.presence_penalty)

    def _sample_random(self, logits: Logits) -> int:
        p = self.params
        scaled = logits.astype(np.float32, copy=False) / np.float32(p.temperature)
        if p.top_p < 1.0:
            return self._sample_nucleus(scaled)
        # Inverse-CDF over the whole vocabulary: one exp, one cumsum, one binary search.
        probs = np.exp(scaled - scaled.max())
        cdf = np.cumsum(probs)
        u = self.rng.random() * float(cdf[-1])
        return min(int(np.searchsorted(cdf, u, side="right")), len(cdf) - 1)

    def _sample_nucleus(self, scaled: Logits) -> int:
        k = min(_NUCLEUS_CANDIDATES, scaled.shape[0])
        top = np.argpartition(scaled, -k)[-k:]
        top = top[np.argsort(scaled[top])[::-1]]
        full_max = float(scaled[top[0]])
        total = float(np.exp(scaled - full_max).sum())
        probs = np.exp(scaled[top] - full_max) / total
        cdf = np.cumsum(probs)
        if cdf[-1] < self.params.top_p and k < scaled.shape[0]:
            top = np.argsort(scaled)[::-1]
            probs = np.exp(scaled[top] - full_max) / total
            cdf = np.cumsum(probs)
        cut = int(np.searchsorted(cdf, self.params.top_p, side="left")) + 1
        kept = cdf[:cut]
        u = self.rng.random() * float(kept[-1])
        pick = min(int(np.searchsorted(kept, u, side="right")), cut - 1)
        return int(top[pick])
