import numpy as np
import pytest

from autan.inference.sampling import Sampler, SamplingParams


def _logits(n: int = 1000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n).astype(np.float32)


def test_greedy_takes_the_argmax() -> None:
    logits = _logits()
    assert Sampler(SamplingParams(temperature=0.0)).sample(logits) == int(np.argmax(logits))


def test_same_seed_same_tokens_different_seed_different_tokens() -> None:
    logits = _logits()
    draws = [
        [Sampler(SamplingParams(temperature=1.0, seed=s)).sample(logits) for _ in range(1)]
        for s in (7, 7)
    ]
    assert draws[0] == draws[1]
    a = Sampler(SamplingParams(temperature=1.0, seed=1))
    b = Sampler(SamplingParams(temperature=1.0, seed=2))
    assert [a.sample(logits) for _ in range(30)] != [b.sample(logits) for _ in range(30)]


def test_full_vocabulary_sampling_follows_the_softmax() -> None:
    logits = np.log(np.array([0.1, 0.2, 0.7], dtype=np.float32))
    s = Sampler(SamplingParams(temperature=1.0, seed=3))
    counts = np.bincount([s.sample(logits) for _ in range(20000)], minlength=3) / 20000
    np.testing.assert_allclose(counts, [0.1, 0.2, 0.7], atol=0.02)


def test_top_p_keeps_only_the_nucleus() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32))
    s = Sampler(SamplingParams(temperature=1.0, top_p=0.8, seed=4))
    drawn = {s.sample(logits) for _ in range(3000)}
    assert drawn == {0, 1}


def test_a_flat_distribution_keeps_every_token_reachable() -> None:
    logits = np.zeros(5000, dtype=np.float32)  # the nucleus needs ~4500 candidates
    s = Sampler(SamplingParams(temperature=1.0, top_p=0.9, seed=5))
    drawn = [s.sample(logits) for _ in range(2000)]
    assert len(set(drawn)) > 1000


def test_the_far_tail_is_never_sampled() -> None:
    logits = np.full(1000, -100.0, dtype=np.float32)
    logits[:3] = [0.0, 0.0, -1.0]
    s = Sampler(SamplingParams(temperature=1.0, seed=6))
    assert {s.sample(logits) for _ in range(2000)} == {0, 1, 2}


def test_penalties_push_away_from_repeated_tokens() -> None:
    logits = np.array([1.0, 0.9, 0.0], dtype=np.float32)
    s = Sampler(SamplingParams(temperature=0.0, frequency_penalty=0.2, presence_penalty=0.0))
    assert s.sample(logits) == 0
    s.accept(0)
    assert s.sample(logits) == 1
    assert logits[0] == pytest.approx(1.0)  # the caller's logits are not written


def test_allowed_mask_restricts_the_choice() -> None:
    logits = np.array([5.0, 1.0, 0.5], dtype=np.float32)
    allowed = np.array([False, False, True])
    assert Sampler(SamplingParams(temperature=0.0)).sample(logits, allowed) == 2


def test_sampling_across_blocks_follows_the_softmax() -> None:
    logits = np.full(2000, -50.0, dtype=np.float32)
    logits[[10, 700, 1999]] = np.log([0.25, 0.25, 0.5])
    s = Sampler(SamplingParams(temperature=1.0, seed=8))
    counts = np.bincount([s.sample(logits) for _ in range(20000)], minlength=2000) / 20000
    np.testing.assert_allclose(counts[[10, 700, 1999]], [0.25, 0.25, 0.5], atol=0.02)
    assert counts.sum() == 1.0 and counts[[10, 700, 1999]].sum() == 1.0


def test_banned_tokens_are_never_sampled() -> None:
    logits = np.array([5.0, 4.0, 3.0, 0.0], dtype=np.float32)
    banned = np.array([0, 1], dtype=np.intp)
    assert Sampler(SamplingParams(temperature=0.0)).sample(logits, banned=banned) == 2
    hot = Sampler(SamplingParams(temperature=1.0, seed=1))
    assert all(hot.sample(logits, banned=banned) in (2, 3) for _ in range(200))
    assert logits[0] == 5.0  # the caller's logits are untouched
