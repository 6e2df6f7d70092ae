"""libllama and the packaged model: a prefix-cache hit gives the greedy tokens of a cold run,
and a KV stream copied into another slot decodes exactly as the original."""

from __future__ import annotations

from collections.abc import Iterator

import llguidance
import llguidance.numpy
import numpy as np
import pytest

from autan.inference.llama import LlamaContext, LlamaModel
from autan.inference.prefix_cache import MIN_PREFILL
from autan.inference.sampling import SamplingParams
from autan.inference.scheduler import BatchPlan, Scheduler
from autan.inference.sequence import Sequence, SequenceOutput
from autan.inference.speculation import SpeculationMode
from autan.models.packaged import CODE_MODEL, packaged_model_path
from tests.server import require_code_model

pytestmark = pytest.mark.model

CONTEXT = 1024
SYSTEM = (
    "You are the support desk of a bicycle shop. Answer briefly and politely. "
    "Repairs take two days; a new chain costs twenty euros; we open at nine. " * 6
)


@pytest.fixture(scope="module")
def model() -> Iterator[LlamaModel]:
    m = LlamaModel(packaged_model_path())
    yield m
    m.close()


@pytest.fixture
def contexts(model: LlamaModel) -> Iterator[list[LlamaContext]]:
    made: list[LlamaContext] = []
    yield made
    for ctx in made:
        ctx.close()


def scheduler(
    model: LlamaModel,
    made: list[LlamaContext],
    *,
    streams: int,
    prefix_cache: bool,
    host_cache_bytes: int = 0,
) -> Scheduler:
    ctx = LlamaContext(model, streams=streams, context=CONTEXT, batch_tokens=128, threads=2)
    made.append(ctx)
    return Scheduler(
        ctx,
        streams=streams,
        batch_tokens=128,
        prefix_cache=prefix_cache,
        host_cache_bytes=host_cache_bytes,
    )


def submit(s: Scheduler, model: LlamaModel, question: str, max_tokens: int) -> Sequence:
    prompt = tokens(model, question)
    outputs: list[SequenceOutput] = []
    seq = Sequence.create(
        prompt,
        SamplingParams(temperature=0.0, max_tokens=max_tokens),
        outputs.append,
        context=CONTEXT,
        piece=model.piece,
    )
    s.add(seq)
    return seq


def tokens(model: LlamaModel, question: str) -> list[int]:
    text = f"{SYSTEM}\nQuestion: {question}\nAnswer:"
    return model.tokenize(text, add_special=True, parse_special=False)


def run(s: Scheduler) -> None:
    while s.has_work:
        s.step()


def cold(model: LlamaModel, made: list[LlamaContext], question: str, max_tokens: int) -> list[int]:
    s = scheduler(model, made, streams=1, prefix_cache=False)
    seq = submit(s, model, question, max_tokens)
    run(s)
    return seq.output


def test_a_hit_in_place_gives_the_cold_greedy_tokens(
    model: LlamaModel, contexts: list[LlamaContext]
) -> None:
    s = scheduler(model, contexts, streams=2, prefix_cache=True)
    first = submit(s, model, "When do you open?", 16)
    run(s)
    again = submit(s, model, "When do you open?", 16)
    run(s)
    assert again.output == first.output
    # The same prompt again is held whole with its last logits: nothing of it is decoded.
    assert s.stats.cached_prompt_tokens == len(again.prompt)
    assert s.stats.prompt_tokens_decoded == len(first.prompt)
    other = submit(s, model, "How much is a chain?", 16)
    run(s)
    assert s.stats.prefix_hits == 2
    assert other.output == cold(model, contexts, "How much is a chain?", 16)


def test_a_prompt_loaded_back_from_host_memory_gives_the_cold_greedy_tokens(
    model: LlamaModel, contexts: list[LlamaContext]
) -> None:
    s = scheduler(model, contexts, streams=1, prefix_cache=True, host_cache_bytes=2**30)
    first = submit(s, model, "When do you open?", 16)
    run(s)
    # Another prompt, sharing nothing, takes the one slot: the first goes to host memory.
    other = model.tokenize("Write a haiku about the sea.", add_special=True, parse_special=False)
    s.add(
        Sequence.create(
            other,
            SamplingParams(temperature=0.0, max_tokens=4),
            lambda out: None,
            context=CONTEXT,
            piece=model.piece,
        )
    )
    run(s)
    assert s.stats.host_cache_saves == 1 and s.cache.saved_bytes > 0
    again = submit(s, model, "When do you open?", 16)
    run(s)
    assert s.stats.host_cache_loads == 1
    assert s.stats.cached_prompt_tokens >= len(again.prompt) - MIN_PREFILL
    assert again.output == first.output == cold(model, contexts, "When do you open?", 16)


def test_a_copied_stream_decodes_bit_for_bit_like_the_original(
    model: LlamaModel, contexts: list[LlamaContext]
) -> None:
    prompt = tokens(model, "When do you open?")
    keep = len(prompt) - MIN_PREFILL

    def decode(ctx: LlamaContext, slot: int, toks: list[int], start: int) -> None:
        n = len(toks)
        ctx.decode(BatchPlan(toks, list(range(start, start + n)), [slot] * n, [False] * n))

    def tail_logits(ctx: LlamaContext, slot: int) -> list[float]:
        n = len(prompt) - keep
        wanted = [False] * (n - 1) + [True]
        ctx.decode(BatchPlan(prompt[keep:], list(range(keep, len(prompt))), [slot] * n, wanted))
        return ctx.logits(n - 1).tolist()

    def context() -> LlamaContext:
        ctx = LlamaContext(model, streams=2, context=CONTEXT, batch_tokens=256, threads=2)
        contexts.append(ctx)
        return ctx

    original = context()
    decode(original, 0, prompt, 0)
    assert original.truncate(0, keep) == keep
    expected = tail_logits(original, 0)

    copied = context()
    decode(copied, 0, prompt, 0)
    copied.copy(0, 1)
    assert copied.truncate(1, keep) == keep
    # The source is reused for another prompt before the copy is read: llama.cpp copies the
    # buffers at the start of the next decode, before that decode writes to the source.
    assert copied.truncate(0, 0) == 0
    decode(copied, 0, tokens(model, "Something else entirely?"), 0)
    assert tail_logits(copied, 1) == expected


def _prefill(ctx: LlamaContext, slot: int, toks: list[int]) -> None:
    n = len(toks)
    ctx.decode(BatchPlan(toks, list(range(n)), [slot] * n, [False] * n))


def test_rows_in_any_slot_order_read_their_own_logits(
    model: LlamaModel, contexts: list[LlamaContext]
) -> None:
    questions = ["When do you open?", "How much is a chain?", "Do you fix tyres?"]
    prompts = [tokens(model, q) for q in questions]
    last = [p[-1] for p in prompts]
    at = [len(p) - 1 for p in prompts]

    def step(order: list[int]) -> dict[int, list[float]]:
        ctx = LlamaContext(model, streams=3, context=CONTEXT, batch_tokens=256, threads=2)
        contexts.append(ctx)
        for slot, p in enumerate(prompts):
            _prefill(ctx, slot, p[:-1])
        ctx.decode(BatchPlan([last[s] for s in order], [at[s] for s in order], order, [True] * 3))
        return {slot: ctx.logits(row).tolist() for row, slot in enumerate(order)}

    in_order = step([0, 1, 2])
    scrambled = step([2, 0, 1])
    assert scrambled == in_order
    assert in_order[0] != in_order[1]


def test_a_free_slot_inside_the_run_is_padded_and_keeps_its_kv(
    model: LlamaModel, contexts: list[LlamaContext]
) -> None:
    prompts = [tokens(model, q) for q in ("When do you open?", "Chains?", "Tyres?")]

    def context() -> LlamaContext:
        ctx = LlamaContext(model, streams=3, context=CONTEXT, batch_tokens=256, threads=2)
        contexts.append(ctx)
        for slot, p in enumerate(prompts):
            _prefill(ctx, slot, p)
        return ctx

    def next_logits(ctx: LlamaContext, slot: int) -> list[float]:
        n = len(prompts[slot])
        ctx.decode(BatchPlan([prompts[slot][-1]], [n], [slot], [True]))
        return ctx.logits(0).tolist()

    padded = context()
    plan = BatchPlan([1, 1], [len(prompts[0]), len(prompts[2])], [0, 2], [True, True])
    assert padded._pads(plan) == {1: len(prompts[1])}
    padded.decode(plan)

    untouched = context()
    assert next_logits(padded, 1) == next_logits(untouched, 1)


def test_a_free_slot_holding_more_kv_than_the_plan_reaches_is_not_padded(
    model: LlamaModel, contexts: list[LlamaContext]
) -> None:
    ctx = LlamaContext(model, streams=3, context=CONTEXT, batch_tokens=512, threads=2)
    contexts.append(ctx)
    long = (tokens(model, "When do you open?") * 3)[:400]
    _prefill(ctx, 1, long)
    assert ctx._pads(BatchPlan([1, 1], [10, 10], [0, 2], [True, True])) == {}


def test_a_short_prompt_reusing_the_template_opening_gives_the_cold_greedy_tokens(
    model: LlamaModel, contexts: list[LlamaContext]
) -> None:
    def chat(question: str) -> list[int]:
        text = (
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
            f"Hugging Face<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
            "<|im_start|>assistant\n"
        )
        return model.tokenize(text, add_special=False, parse_special=True)

    def submit_tokens(s: Scheduler, prompt: list[int]) -> Sequence:
        params = SamplingParams(temperature=0.0, max_tokens=12)
        seq = Sequence.create(prompt, params, lambda _: None, context=CONTEXT, piece=model.piece)
        s.add(seq)
        return seq

    first, second = chat("How does a bicycle work?"), chat("How does rain form?")
    assert len(second) < MIN_PREFILL
    warm = scheduler(model, contexts, streams=1, prefix_cache=True)
    submit_tokens(warm, first)
    run(warm)
    hit = submit_tokens(warm, second)
    run(warm)
    assert warm.stats.cached_prompt_tokens > 16  # the system turn came from the first's KV
    cold_run = scheduler(model, contexts, streams=1, prefix_cache=False)
    fresh = submit_tokens(cold_run, second)
    run(cold_run)
    assert hit.output == fresh.output


def test_the_description_counts_the_parameters(model: LlamaModel) -> None:
    # llama.cpp's own label for this 30-layer model is its "256M" bucket
    assert model.info.description == "llama 135M Q4_1"


EDIT = (
    "Rewrite this function so that it also counts tabs as whitespace. Reply with the code.\n"
    "def count_spaces(text):\n"
    "    total = 0\n"
    "    for char in text:\n"
    "        if char == ' ':\n"
    "            total += 1\n"
    "    return total\n"
    "def count_lines(text):\n"
    "    return len(text.splitlines())\n"
)


@pytest.mark.parametrize("max_tokens", [37, 80])
def test_speculation_gives_the_greedy_tokens_of_single_steps(
    model: LlamaModel, contexts: list[LlamaContext], max_tokens: int
) -> None:
    prompt = model.tokenize(
        f"<|im_start|>user\n{EDIT}<|im_end|>\n<|im_start|>assistant\n",
        add_special=True,
        parse_special=True,
    )
    outputs: dict[SpeculationMode, list[int]] = {}
    accepted = 0
    for mode in (SpeculationMode.OFF, SpeculationMode.ON):
        ctx = LlamaContext(model, streams=1, context=CONTEXT, batch_tokens=128, threads=2)
        contexts.append(ctx)
        s = Scheduler(ctx, streams=1, batch_tokens=128, prefix_cache=False, speculation=mode)
        seq = Sequence.create(
            prompt,
            SamplingParams(temperature=0.0, max_tokens=max_tokens),
            lambda out: None,
            context=CONTEXT,
            piece=model.piece,
        )
        s.add(seq)
        run(s)
        outputs[mode] = seq.output
        accepted = s.stats.accepted_tokens
    assert outputs[SpeculationMode.ON] == outputs[SpeculationMode.OFF]
    assert len(outputs[SpeculationMode.ON]) == max_tokens
    assert accepted > 0  # the reply copies the code: drafts were taken


def _first_allowed_is_accepted(tokenizer: llguidance.LLTokenizer, lark: str) -> tuple[int, bool]:
    """The first token a grammar allows, and whether the matcher then accepts it."""
    matcher = llguidance.LLMatcher(tokenizer, llguidance.LLMatcher.grammar_from_lark(lark))
    bits = np.zeros((1, (tokenizer.vocab_size + 31) // 32), dtype=np.int32)
    llguidance.numpy.fill_next_token_bitmask(matcher, bits, 0)
    allowed = np.unpackbits(bits.view(np.uint8), bitorder="little", count=tokenizer.vocab_size)
    first = int(np.flatnonzero(allowed)[0])
    return first, bool(matcher.consume_token(first))


def test_grammar_literals_spelling_a_control_token_are_text(model: LlamaModel) -> None:
    tokenizer = model.grammar_tokenizer()
    im_start = model.tokenize("<|im_start|>", add_special=False, parse_special=True)
    assert len(im_start) == 1  # a control token of the vocabulary
    assert tokenizer.tokenize_str("<|im_start|>") != im_start
    first, accepted = _first_allowed_is_accepted(tokenizer, 'start: "<|im_start|>x"')
    assert first != im_start[0] and accepted


def test_a_user_defined_tool_call_token_is_allowed_and_accepted_on_the_code_model() -> None:
    """Qwen's ``<tool_call>`` is a user-defined token: libllama reads it in any text, so a
    grammar's literal becomes that token, and the matcher must accept it."""
    require_code_model()
    code = LlamaModel(CODE_MODEL.path())
    try:
        (tool_call,) = code.tokenize("<tool_call>", add_special=False, parse_special=False)
        first, accepted = _first_allowed_is_accepted(
            code.grammar_tokenizer(), 'start: "<tool_call>\\n" /[a-z]+/'
        )
        assert (first, accepted) == (tool_call, True)
    finally:
        code.close()
