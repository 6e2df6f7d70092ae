"""Prompt-lookup speculation: drafts come from the sequence's own text, and the scheduler's
output with them is the output without them (greedy, seeded sampling, stops, limits,
grammars), while the distribution of sampled tokens stays the model's."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from autan.inference.constraints import Grammars
from autan.inference.sampling import Logits, SamplingParams
from autan.inference.scheduler import BatchPlan, Scheduler
from autan.inference.sequence import Sequence
from autan.inference.speculation import (
    MAX_K,
    PRIOR_ROW_COST,
    SHADOW_HORIZON,
    PromptLookup,
    SpeculationMode,
    StepCost,
)
from tests.fakes import N_VOCAB, ByteVocabulary, ContextBackend, ScriptBackend, _digest
from tests.inference.test_scheduler import Collector, run_until_idle

ON, OFF = SpeculationMode.ON, SpeculationMode.OFF
CODE = b"def area(w, h):\n    return w * h\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n"
EDITED = CODE.replace(b"w * h", b"w * h * 1.0")
EDIT_PROMPT = b"Rewrite this code so that area returns a float:\n" + CODE + b"\nAnswer:\n"


def toks(text: bytes) -> list[int]:
    return list(text)


def test_lookup_proposes_what_followed_the_last_ngram() -> None:
    lookup = PromptLookup()
    assert lookup.propose(toks(b"the cat sat. the cat"), [], 4) == toks(b" sat")
    # the reply counts too, and the latest earlier occurrence wins
    assert lookup.propose(toks(b"the cat sat. the cat"), toks(b" ran. the cat"), 4) == toks(b" ran")
    assert PromptLookup().propose(toks(b"abcdefg"), [], 4) == []  # nothing repeats
    assert PromptLookup().propose(toks(b"the cat sat. the cat"), [], 2) == toks(b" s")


def linear(share: float) -> Callable[[int], float]:
    """Decode costs that grow by ``share`` of a one-row decode per row."""
    return lambda rows: 1.0 + share * (rows - 1)


def test_drafts_grow_while_the_model_agrees_and_stop_when_rows_cost_more() -> None:
    lookup = PromptLookup()
    assert 0 < lookup.length(linear(PRIOR_ROW_COST)) < MAX_K  # the prior: worth a try
    for _ in range(10):
        lookup.settle(8, 8)
    assert lookup.length(linear(0.5)) >= 8
    assert lookup.length(lambda rows: 1.0) == MAX_K
    assert lookup.length(lambda rows: 1.0, limit=5) == 5
    for _ in range(30):
        lookup.settle(4, 0)
    assert lookup.survival()[0] < 0.1 and lookup.length(linear(0.5)) == 0


def test_without_drafting_guesses_are_checked_for_free_and_drafts_start_once_they_hold() -> None:
    text = bytes(range(40, 140))  # no 4 bytes repeat in it
    prompt = toks(text + text[:4])  # the reply will copy the text from its 5th byte on
    lookup = PromptLookup()
    for _ in range(5):
        lookup.settle(4, 0)
    assert lookup.length(linear(0.3)) == 0
    output: list[int] = []
    free = 0
    while not lookup.draft(prompt, output, 10, linear(0.3)):
        output.append(text[4 + len(output)])  # the token sampled: the copy goes on
        free += 1
        assert free < 90, "guesses that held never made the sequence draft"
    # It waited for guesses to be confirmed (SHADOW_HORIZON tokens each), verifying none.
    assert free >= SHADOW_HORIZON and lookup.survival()[0] > 0.3


def test_a_draft_taken_whole_is_followed_by_longer_ones_though_some_are_cut_short() -> None:
    """Copying runs long: drafts taken whole half the time and cut at once otherwise make
    long drafts pay, where one acceptance rate (1 in 2 tokens) would say none does."""
    lookup = PromptLookup()
    for _ in range(20):
        lookup.settle(15, 15)
        lookup.settle(15, 0)
    alive = lookup.survival()
    assert alive[0] == pytest.approx(0.5, abs=0.1) and alive[14] > 0.8 * alive[0]
    assert lookup.length(linear(0.3)) == MAX_K


def test_the_draft_length_takes_the_cheapest_row_counts() -> None:
    """When 16 rows cost less than 15, a sure draft is 15 tokens, not 14."""
    lookup = PromptLookup()
    for _ in range(20):
        lookup.settle(15, 15)
    cost = {n: 1.0 + 0.4 * (n - 1) for n in range(1, MAX_K + 2)}
    cost[16] = cost[14]
    assert lookup.length(cost.__getitem__) == 15
    cost[16] = cost[15] + 5.0
    assert lookup.length(cost.__getitem__) == 14


def test_step_cost_is_measured_per_row_count_against_one_row() -> None:
    cost = StepCost()
    assert cost.relative(4) == pytest.approx(1 + 3 * PRIOR_ROW_COST)  # nothing measured yet
    cost.observe(4, 0.025)
    assert cost.relative(4) == pytest.approx(1 + 3 * PRIOR_ROW_COST)  # no one-row step yet
    for _ in range(50):
        cost.observe(1, 0.010)
        cost.observe(4, 0.025)
        cost.observe(16, 0.065)
    assert cost.relative(4) == pytest.approx(2.5, rel=0.01)
    assert cost.relative(16) == pytest.approx(6.5, rel=0.01)
    assert cost.relative(8) == pytest.approx(1 + 7 * PRIOR_ROW_COST)  # never seen: the prior
    cost.observe(MAX_K + 40, 1.0)  # beyond any draft: not kept
    assert cost.relative(MAX_K + 40) == pytest.approx(1 + (MAX_K + 39) * PRIOR_ROW_COST)


def generate(
    backend: ScriptBackend,
    prompt: bytes,
    mode: SpeculationMode,
    *,
    streams: int = 1,
    **params: object,
) -> tuple[str, str | None, Scheduler]:
    s = Scheduler(backend, streams=streams, batch_tokens=128, speculation=mode)
    c = Collector()
    p = SamplingParams(**{"temperature": 0.0, **params})  # type: ignore[arg-type]
    seq = Sequence.create(list(prompt), p, c, context=512, piece=lambda t: bytes([t]) if t else b"")
    s.add(seq)
    run_until_idle(s)
    return c.text, c.finish, s


def test_an_edit_is_verified_in_fewer_steps_with_the_same_text() -> None:
    text, finish, s = generate(ScriptBackend(EDITED), EDIT_PROMPT, ON)
    assert (text, finish) == (EDITED.decode(), "stop")
    plain, _, s_off = generate(ScriptBackend(EDITED), EDIT_PROMPT, OFF)
    assert plain == text
    assert s.stats.accepted_tokens > len(EDITED) // 2
    assert s.stats.draft_tokens > s.stats.accepted_tokens  # the edit itself was rejected
    assert s.stats.steps < s_off.stats.steps // 2


@pytest.mark.parametrize("max_tokens", [1, 2, 5, 17, 30, 31, 60])
def test_max_tokens_inside_a_draft_ends_where_it_ends_without_one(max_tokens: int) -> None:
    on = generate(ScriptBackend(EDITED), EDIT_PROMPT, ON, max_tokens=max_tokens)
    off = generate(ScriptBackend(EDITED), EDIT_PROMPT, OFF, max_tokens=max_tokens)
    assert on[:2] == off[:2] == (EDITED[:max_tokens].decode(), "length")


@pytest.mark.parametrize("stop", ["return", "h):", "w + h", "1.0"])
def test_a_stop_sequence_inside_a_draft_ends_where_it_ends_without_one(stop: str) -> None:
    on = generate(ScriptBackend(EDITED), EDIT_PROMPT, ON, stop=(stop,))
    off = generate(ScriptBackend(EDITED), EDIT_PROMPT, OFF, stop=(stop,))
    assert on[:2] == off[:2]
    assert on[0] == EDITED.decode().split(stop)[0] and on[1] == "stop"


class CopyingBackend(ContextBackend):
    """A "model" that mostly copies: it continues its context's last three tokens as they
    continued where they last occurred, except where a digest of the whole context (every KV
    cell) picks another byte, one time in five. Drafts are then often right, and a rejected
    draft's cell left in the KV would change what follows."""

    def decode(self, plan: BatchPlan) -> None:
        super().decode(plan)
        self._contexts = {
            i: self.kv[slot][: pos + 1]
            for i, (slot, pos) in enumerate(zip(plan.slots, plan.positions, strict=True))
            if plan.want_logits[i]
        }

    def logits(self, row: int) -> Logits:
        context = self._contexts[row]
        out = np.zeros(N_VOCAB, dtype=np.float32)
        h = _digest(context)
        token = 32 + h % 95
        if h % 5:
            token = _continuation(context) or token
        out[token] = self.margin
        return out


def _continuation(context: list[int]) -> int | None:
    """The token after the latest earlier occurrence of the context's longest tail (3, 2 or
    1 tokens)."""
    for n in (3, 2, 1):
        tail = context[-n:]
        for i in range(len(context) - 1, n - 1, -1):
            if context[i - n : i] == tail:
                return context[i]
    return None


def test_rejected_drafts_leave_no_kv_behind() -> None:
    prompt = b"the cat sat on the mat; the cat sat on the hat; the cat"
    for max_tokens in (40, 41, 77):
        on = generate(CopyingBackend(), prompt, ON, max_tokens=max_tokens)
        off = generate(CopyingBackend(), prompt, OFF, max_tokens=max_tokens)
        assert on[:2] == off[:2]
        stats = on[2].stats
        assert 0 < stats.accepted_tokens < stats.draft_tokens


def test_a_seeded_sample_gives_the_same_text_with_drafts() -> None:
    # A small margin makes the sampler leave the script often: drafts are accepted and
    # rejected at random, and every row draws from the RNG exactly as a single step would.
    drafted = accepted = 0
    for seed in range(12):
        params = {"temperature": 1.0, "seed": seed, "max_tokens": 60}
        on = generate(ScriptBackend(EDITED, margin=5.0), EDIT_PROMPT, ON, **params)
        off = generate(ScriptBackend(EDITED, margin=5.0), EDIT_PROMPT, OFF, **params)
        assert on[:2] == off[:2]
        drafted += on[2].stats.draft_tokens
        accepted += on[2].stats.accepted_tokens
    assert 0 < accepted < drafted


class FixedBackend(ScriptBackend):
    """Every row's logits put p = (0.5, 0.3, 0.2) on the bytes "a", "b", "c"."""

    def logits(self, row: int) -> Logits:
        out = np.full(N_VOCAB, -np.inf, dtype=np.float32)
        out[[ord("a"), ord("b"), ord("c")]] = np.log([0.5, 0.3, 0.2])
        return out


def test_a_draft_token_is_taken_with_the_models_probability() -> None:
    # Whatever the first output token, the prompt makes the lookup draft "a" for the second:
    # speculative sampling with a one-hot proposal keeps it with p(a) = 0.5 and otherwise
    # gives "b" and "c" as 0.3 : 0.2, the model's distribution.
    runs = 1500
    seconds: list[str] = []
    drafted = 0
    for seed in range(runs):
        text, _, s = generate(
            FixedBackend(b""),
            b"qrsaa qrsba qrsca qrs",
            ON,
            temperature=1.0,
            seed=seed,
            max_tokens=3,
        )
        seconds.append(text[1])
        drafted += s.stats.draft_tokens > 0
    assert drafted == runs
    freq = {t: seconds.count(t) / runs for t in "abc"}
    # 4 standard deviations of a binomial proportion at n = 1500: under 0.052
    assert abs(freq["a"] - 0.5) < 0.052
    assert abs(freq["b"] - 0.3) < 0.048
    assert abs(freq["c"] - 0.2) < 0.042


def test_a_constrained_sequence_checks_every_draft_token_against_its_grammar() -> None:
    grammars = Grammars(ByteVocabulary().grammar_tokenizer(), N_VOCAB)
    grammar = grammars.lark(r'start: "def area(w, h):\n    return " /[a-z *]{1,12}/ "\n"')
    outputs = []
    for mode in (ON, OFF):
        s = Scheduler(ScriptBackend(EDITED), streams=1, batch_tokens=128, speculation=mode)
        c = Collector()
        seq = Sequence.create(
            list(EDIT_PROMPT),
            SamplingParams(temperature=0.0, grammar=grammar),
            c,
            context=512,
            piece=lambda t: bytes([t]) if t else b"",
            constraint=grammars.constraint(grammar),
        )
        s.add(seq)
        run_until_idle(s)
        outputs.append((c.text, c.finish, s.stats.accepted_tokens))
    assert outputs[0][:2] == outputs[1][:2]
    assert outputs[0][0].startswith("def area(w, h):\n    return w * h")
    assert outputs[0][1] == "stop"
    assert outputs[0][2] > 0


def test_auto_speculates_only_while_few_sequences_run() -> None:
    s = Scheduler(
        ScriptBackend(EDITED), streams=2, batch_tokens=128, speculation=SpeculationMode.AUTO
    )
    collectors = []
    for _ in range(2):
        c = Collector()
        seq = Sequence.create(
            list(EDIT_PROMPT),
            SamplingParams(temperature=0.0, max_tokens=20),
            c,
            context=512,
            piece=lambda t: bytes([t]) if t else b"",
        )
        s.add(seq)
        collectors.append(c)
    run_until_idle(s)
    assert [c.text for c in collectors] == [EDITED[:20].decode()] * 2
    assert s.stats.draft_tokens == 0
    alone = generate(ScriptBackend(EDITED), EDIT_PROMPT, SpeculationMode.AUTO, max_tokens=20)
    assert alone[2].stats.accepted_tokens > 0
