"""A constrained reply ends complete within its budget, on the scripted byte model."""

from __future__ import annotations

import json

import pytest

from autan.chat.schemas import lark_json
from autan.inference.constraints import Grammars
from autan.inference.sampling import SamplingParams
from autan.inference.scheduler import Scheduler
from autan.inference.sequence import Sequence
from tests.fakes import ByteVocabulary, ScriptBackend
from tests.inference.test_scheduler import Collector, run_until_idle

STORY = {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}


@pytest.fixture
def grammars() -> Grammars:
    return Grammars(ByteVocabulary().grammar_tokenizer(), 256)


def run(grammars: Grammars, schema: dict[str, object], script: bytes, max_tokens: int) -> Collector:
    grammar = grammars.lark("start: " + lark_json(schema))
    c = Collector()
    seq = Sequence.create(
        list(b"prompt"),
        SamplingParams(temperature=0.0, max_tokens=max_tokens, grammar=grammar),
        c,
        context=512,
        piece=lambda t: bytes([t]) if t else b"",
        constraint=grammars.constraint(grammar),
        shortest=grammars.shortest(grammar),
    )
    s = Scheduler(ScriptBackend(script), streams=1, batch_tokens=16)
    s.add(seq)
    run_until_idle(s)
    return c


def test_the_shortest_reply_is_complete_and_valid(grammars: Grammars) -> None:
    shortest = grammars.shortest(grammars.lark("start: " + lark_json(STORY)))
    assert shortest is not None
    assert json.loads(bytes(shortest)) == {"story": ""}


def test_a_walk_that_cannot_finish_within_its_limit_finds_nothing(grammars: Grammars) -> None:
    c = grammars.constraint(grammars.lark("start: " + lark_json(STORY)))
    assert c.closing(len('{"story": ""}')) is not None
    assert c.closing(len('{"story": ""}') - 1) is None


def test_a_reply_rambling_in_a_string_is_closed_at_the_budget(grammars: Grammars) -> None:
    out = run(grammars, STORY, b'{"story": "' + b"once upon a time " * 20, max_tokens=40)
    reply = json.loads(out.text)
    assert reply["story"].startswith("once upon a time")
    assert out.finish == "length"  # the budget ended it, not the model
    assert out.outputs[-1].completion_tokens <= 40


def test_every_budget_from_the_shortest_up_gives_a_valid_reply(grammars: Grammars) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 3},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "age": {"type": "integer", "minimum": 10},
        },
        "required": ["name", "tags", "age"],
    }
    script = b'{"name": "' + b"x" * 100
    shortest = grammars.shortest(grammars.lark("start: " + lark_json(schema)))
    assert shortest is not None
    for budget in range(len(shortest), len(shortest) + 30):
        out = run(grammars, schema, script, max_tokens=budget)
        reply = json.loads(out.text)
        assert set(reply) == {"name", "tags", "age"} and len(reply["name"]) >= 3
        assert out.outputs[-1].completion_tokens <= budget


def test_a_token_that_leaves_no_room_to_finish_is_not_taken(grammars: Grammars) -> None:
    # The script goes on to an optional key whose value alone outgrows the budget: the reply
    # ends before it instead of being cut inside it.
    const = "a long constant value that does not fit"
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "note": {"const": const}},
        "required": ["n"],
    }
    out = run(grammars, schema, b'{"n": 1, "note": "' + const.encode() + b'"}', max_tokens=24)
    assert json.loads(out.text) == {"n": 1}
    assert out.finish == "length"


def test_a_reply_that_fits_is_left_alone(grammars: Grammars) -> None:
    out = run(grammars, STORY, b'{"story": "short"}', max_tokens=40)
    assert (json.loads(out.text), out.finish) == ({"story": "short"}, "stop")
