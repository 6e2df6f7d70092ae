"""Per-sequence sampling in numpy: penalties, temperature, nucleus, seeded RNG."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from autan.inference.constraints import Grammar

Logits = npt.NDArray[np.float32]

_BLOCK = 256


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
    min_tokens: int = 0  # no end of generation before this many tokens
    grammar: Grammar | None = None  # every sampled token must keep the output in this grammar

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

    def sample(
        self,
        logits: Logits,
        allowed: npt.NDArray[np.bool_] | None = None,
        banned: npt.NDArray[np.intp] | None = None,
    ) -> int:
        """Pick a token, never a ``banned`` one and only ``allowed`` ones.

        ``logits`` may be a view into llama.cpp memory; it is never written.
        """
        if self._penalised or allowed is not None or banned is not None:
            logits = logits.copy()
            if self._penalised:
                self._apply_penalties(logits)
            if allowed is not None:
                logits[~allowed[: logits.shape[0]]] = -np.inf
            if banned is not None:
                logits[banned] = -np.inf
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
        # Unnormalised probabilities over the whole vocabulary; the best token has 1.0.
        probs = np.exp((logits - logits.max()) * np.float32(1.0 / p.temperature))
        if p.top_p < 1.0:
            ids, kept = _nucleus(probs, p.top_p)
            cdf = np.cumsum(kept, dtype=np.float64)
            u = self.rng.random() * float(cdf[-1])
            return int(ids[min(int(np.searchsorted(cdf, u, side="right")), len(ids) - 1)])
        return _inverse_cdf(probs, self.rng.random())


def _inverse_cdf(probs: Logits, u: float) -> int:
    """Index where the running sum of ``probs`` crosses ``u`` times their total.

    A running sum over 49k entries costs ~0.2 ms in numpy; summing blocks of 256 first and
    running through one block costs a tenth of that.
    """
    n = probs.shape[0]
    pad = (-n) % _BLOCK
    padded = np.concatenate([probs, np.zeros(pad, dtype=probs.dtype)]) if pad else probs
    block_cdf = np.cumsum(padded.reshape(-1, _BLOCK).sum(axis=1, dtype=np.float64))
    target = u * float(block_cdf[-1])
    b = min(int(np.searchsorted(block_cdf, target, side="right")), len(block_cdf) - 1)
    if b:
        target -= float(block_cdf[b - 1])
    inner = np.cumsum(padded[b * _BLOCK : (b + 1) * _BLOCK], dtype=np.float64)
    i = min(int(np.searchsorted(inner, target, side="right")), _BLOCK - 1)
    # Rounding can land on the zero-probability tail of the block: step back to a real token.
    while i > 0 and padded[b * _BLOCK + i] == 0.0:
        i -= 1
    return int(min(b * _BLOCK + i, n - 1))


def _nucleus(probs: Logits, top_p: float) -> tuple[npt.NDArray[np.intp], Logits]:
    """The smallest most-likely set holding ``top_p`` of the mass, most likely first.

    Exact without sorting the vocabulary: the tokens at or above a threshold form a most-likely
    set; once that set holds enough mass the nucleus is a prefix of it, so only it is sorted.
    The threshold starts at 1e-3 of the best token and drops until the set is big enough.
    """
    need = top_p * float(probs.sum(dtype=np.float64))
    threshold = 1e-3
    while True:
        ids = np.flatnonzero(probs >= threshold)
        if threshold == 0.0 or float(probs[ids].sum(dtype=np.float64)) >= need:
            break
        threshold = threshold * 1e-3 if threshold > 1e-30 else 0.0
    ids = ids[np.argsort(probs[ids])[::-1]]
    kept = probs[ids]
    cut = int(np.searchsorted(np.cumsum(kept, dtype=np.float64), need, side="left")) + 1
    return ids[:cut], kept[:cut]
