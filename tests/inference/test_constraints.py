import asyncio

import pytest

from autan.inference.constraints import GrammarError, Grammars
from autan.inference.sampling import SamplingParams
from tests.fakes import ByteVocabulary, fake_engine


@pytest.fixture
def grammars() -> Grammars:
    return Grammars(ByteVocabulary().grammar_tokenizer(), 256)


def test_grammars_compile_once_per_text(grammars: Grammars) -> None:
    a = grammars.lark('start: "yes" | "no"')
    b = grammars.lark('start: "yes" | "no"')
    assert a is b and grammars.compiled == 1
    grammars.lark('start: "maybe"')
    assert grammars.compiled == 2


def test_a_bad_grammar_fails_at_compile_time_every_time(grammars: Grammars) -> None:
    for _ in range(2):
        with pytest.raises(GrammarError, match="uniqueItems"):
            grammars.lark('start: %json {"type": "array", "uniqueItems": true}')
    assert grammars.compiled == 1  # the failure is cached too


def test_mask_allows_exactly_what_the_grammar_can_take_next(grammars: Grammars) -> None:
    c = grammars.constraint(grammars.lark('start: "yes" | "no"'))
    allowed = c.allowed()
    assert allowed.shape == (256,)
    assert set(allowed.nonzero()[0]) == {ord("y"), ord("n")}
    assert c.consume(ord("n"))
    assert set(c.allowed().nonzero()[0]) == {ord("o")}
    assert not c.done
    assert c.consume(ord("o"))
    assert c.done  # nothing may follow: the sequence ends without an end token
    bad = grammars.constraint(grammars.lark('start: "yes"'))
    assert not bad.consume(ord("n")) and bad.error


def test_engine_bends_the_script_to_the_grammar_and_ends_with_it() -> None:
    engine, _ = fake_engine(b"maybe later")
    grammar = engine.grammars.lark('start: "ma" /[a-z]{0,3}/ "!"')

    async def run() -> tuple[str, str | None]:
        text, finish = "", None
        params = SamplingParams(temperature=0, grammar=grammar)
        async for _, out in engine.generate(list(b"hi"), [params]):
            text += out.text
            finish = out.finish_reason or finish
        return text, finish

    try:
        text, finish = asyncio.run(run())
        assert text == "maybe!"  # the script's "maybe", then the only way to finish
        assert finish == "stop"
        stats = engine.stats()
        # "a" after "m" and "!" after three letters are forced: appended without a mask
        assert (stats.masked_tokens, stats.forced_tokens) == (len("mybe"), len("a!"))
        assert stats.mask_seconds > 0
    finally:
        engine.close()
