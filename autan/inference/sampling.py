"""Per-sequence sampling in numpy: penalties, temperature, nucleus, seeded RNG."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Logits = npt.NDArray[np.float32]

# Logit distance (after temperature) beyond which a token is never sampled; see _sample_random.
_TAIL = 30.0
_NUCLEUS_FIRST_K = 64


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
        scaled = logits / np.float32(p.temperature)
        top = float(scaled.max())
        # Tokens more than _TAIL below the best have probability < e^-30 each: dropping all
        # 49k of them moves the distribution by < 5e-9, and the rest is usually a few dozen.
        candidates = np.flatnonzero(scaled > top - _TAIL)
        probs = np.exp(scaled[candidates] - top)
        if p.top_p < 1.0:
            candidates, probs = _nucleus(candidates, probs, p.top_p)
        cdf = np.cumsum(probs)
        u = self.rng.random() * float(cdf[-1])
        pick = min(int(np.searchsorted(cdf, u, side="right")), len(cdf) - 1)
        return int(candidates[pick])


def _nucleus(
    candidates: npt.NDArray[np.intp], probs: Logits, top_p: float
) -> tuple[npt.NDArray[np.intp], Logits]:
    """The smallest most-likely set holding ``top_p`` of the mass, most likely first.

    A partial sort (argpartition) of the top k, widened until it holds the mass, avoids
    sorting the whole vocabulary when the distribution is flat.
    """
    need = top_p * float(probs.sum())
    k = _NUCLEUS_FIRST_K
    while k < len(probs):
        part = np.argpartition(probs, -k)[-k:]
        if float(probs[part].sum()) >= need:
            order = part[np.argsort(probs[part])[::-1]]
            break
        k *= 4
    else:
        order = np.argsort(probs)[::-1]
    probs, candidates = probs[order], candidates[order]
    cut = int(np.searchsorted(np.cumsum(probs), need, side="left")) + 1
    return candidates[:cut], probs[:cut]
