"""Tokens a grammar forces are appended without sampling and decoded in one chunk."""

from __future__ import annotations

import json
from collections import Counter

from autan.chat.schemas import lark_json
from autan.inference.constraints import Grammars
from autan.inference.micro_batch import passes
from autan.inference.sampling import SamplingParams
from autan.inference.scheduler import Scheduler
from autan.inference.sequence import Sequence
from tests.fakes import ByteVocabulary, ContextBackend, ScriptBackend
from tests.inference.test_scheduler import Collector, run_until_idle

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "colour": {"enum": ["red", "green", "blue"]},
        "count": {"type": "integer", "minimum": 0, "maximum": 99},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 3},
    },
    "required": ["name", "colour", "count", "tags"],
}


def generate(
    backend: ScriptBackend, *, fast_forward: bool, n: int = 1, max_tokens: int = 200
) -> tuple[list[Collector], Scheduler]:
    grammars = Grammars(ByteVocabulary().grammar_tokenizer(), 256)
    grammar = grammars.lark("start: " + lark_json(SCHEMA))
    s = Scheduler(backend, streams=4, batch_tokens=64, fast_forward=fast_forward)
    outs = []
    for i in range(n):
        c = Collector()
        s.add(
            Sequence.create(
                list(f"prompt {i}".encode()),
                SamplingParams(temperature=0.0, max_tokens=max_tokens, grammar=grammar),
                c,
                context=512,
                piece=lambda t: bytes([t]) if t else b"",
                constraint=grammars.constraint(grammar),
                shortest=grammars.shortest(grammar),
            )
        )
        outs.append(c)
    run_until_idle(s)
    return outs, s


def test_forced_tokens_skip_their_steps_and_change_nothing_in_the_output() -> None:
    # The "model" reads every token in its KV: a forced token missing from KV, or decoded at
    # the wrong position, would change every token after it.
    slow, s_slow = generate(ContextBackend(), fast_forward=False, n=3)
    fast, s_fast = generate(ContextBackend(), fast_forward=True, n=3)
    for a, b in zip(slow, fast, strict=True):
        assert a.text == b.text
        assert a.finish == b.finish == "stop"
        assert a.outputs[-1].completion_tokens == b.outputs[-1].completion_tokens
        assert set(json.loads(b.text)) == set(SCHEMA["properties"])  # type: ignore[arg-type]
    assert s_fast.stats.forced_tokens > 20  # at least the keys: '{"name": "' and so on
    assert s_fast.stats.steps <= s_slow.stats.steps - 20
    assert s_fast.stats.generated_tokens == s_slow.stats.generated_tokens


def test_a_forced_run_never_passes_max_tokens() -> None:
    (out,), _ = generate(ContextBackend(), fast_forward=True, max_tokens=5)
    assert out.outputs[-1].completion_tokens <= 5


def test_the_mask_after_a_forced_run_follows_the_grammar() -> None:
    # The scripted model spells a valid record; fast-forward skips the forced parts of its
    # script (it is spelled by position) and the sampled parts land where they belong.
    script = b'{"name": "Ada", "colour": "green", "count": 7, "tags": ["x", "yz"]}'
    (out,), s = generate(ScriptBackend(script), fast_forward=True)
    assert json.loads(out.text) == json.loads(script)
    assert s.stats.forced_tokens > 0


def test_concurrent_forced_runs_cost_no_thin_micro_batches() -> None:
    backend = ContextBackend()
    fast, s = generate(backend, fast_forward=True, n=3)
    slow, _ = generate(ContextBackend(), fast_forward=False, n=3)
    assert [c.text for c in fast] == [c.text for c in slow]
    assert s.stats.deferred_tokens > 0
    for slots in backend.batch_slots:
        rows, one_each = passes(Counter(slots)), passes(dict.fromkeys(slots, 1))
        # never thinner passes than with one row for each sequence
        assert sum(rows) / len(rows) >= sum(one_each) / len(one_each), slots
