from autan.inference.prefix_cache import MIN_PREFILL
from autan.inference.sampling import SamplingParams
from autan.inference.scheduler import Scheduler
from autan.inference.sequence import Sequence, SequenceOutput, SequenceStatus
from tests.fakes import ContextBackend, ScriptBackend


class Collector:
    def __init__(self) -> None:
        self.outputs: list[SequenceOutput] = []

    def __call__(self, out: SequenceOutput) -> None:
        self.outputs.append(out)

    @property
    def text(self) -> str:
        return "".join(o.text for o in self.outputs)

    @property
    def finish(self) -> str | None:
        return self.outputs[-1].finish_reason if self.outputs else None


def make_seq(
    prompt: bytes = b"prompt", *, context: int = 256, **params: object
) -> tuple[Sequence, Collector]:
    c = Collector()
    p = SamplingParams(temperature=0.0, **params)  # type: ignore[arg-type]
    seq = Sequence.create(
        list(prompt), p, c, context=context, piece=lambda t: bytes([t]) if t else b""
    )
    return seq, c


def run_until_idle(s: Scheduler, limit: int = 10_000) -> int:
    steps = 0
    while s.has_work and steps < limit:
        s.step()
        steps += 1
    return steps


def test_sequences_run_to_the_end_of_the_script() -> None:
    s = Scheduler(ScriptBackend(b"abc"), streams=2, batch_tokens=16)
    seqs = [make_seq() for _ in range(3)]
    for seq, _ in seqs:
        s.add(seq)
    run_until_idle(s)
    for seq, c in seqs:
        assert c.text == "abc"
        assert c.finish == "stop"
        assert c.outputs[-1].completion_tokens == 3
        assert seq.status is SequenceStatus.FINISHED


def test_max_tokens_gives_length() -> None:
    s = Scheduler(ScriptBackend(b"abcdef"), streams=1, batch_tokens=16)
    seq, c = make_seq(max_tokens=2)
    s.add(seq)
    run_until_idle(s)
    assert (c.text, c.finish, c.outputs[-1].completion_tokens) == ("ab", "length", 2)


def test_max_tokens_zero_generates_nothing_and_decodes_nothing() -> None:
    backend = ScriptBackend(b"abc")
    s = Scheduler(backend, streams=1, batch_tokens=16)
    seq, c = make_seq(max_tokens=0)
    s.add(seq)
    run_until_idle(s)
    assert (c.text, c.finish, c.outputs[-1].completion_tokens) == ("", "length", 0)
    assert backend.decoded_tokens == 0


def test_context_limit_caps_the_output() -> None:
    s = Scheduler(ScriptBackend(b"abcdefgh"), streams=1, batch_tokens=16)
    seq, c = make_seq(b"12345", context=8)
    s.add(seq)
    run_until_idle(s)
    assert (c.text, c.finish) == ("abc", "length")


def test_stop_string_ends_the_sequence_without_leaking() -> None:
    s = Scheduler(ScriptBackend(b"one two three"), streams=1, batch_tokens=16)
    seq, c = make_seq(stop=(" tw",))
    s.add(seq)
    run_until_idle(s)
    assert (c.text, c.finish) == ("one", "stop")


def test_only_free_slots_admit_and_a_freed_slot_admits_at_once() -> None:
    s = Scheduler(ScriptBackend(b"ab"), streams=2, batch_tokens=16)
    seqs = [make_seq() for _ in range(3)]
    for seq, _ in seqs:
        s.add(seq)
    s.step()
    assert len(s.running) == 2 and len(s.waiting) == 1
    seqs[0][0].cancelled = True
    s.step()
    assert seqs[2][0].status is SequenceStatus.RUNNING
    assert seqs[0][0].status is SequenceStatus.FINISHED


def test_prefill_is_chunked_and_mixed_with_decode_steps() -> None:
    backend = ScriptBackend(b"x" * 50)
    s = Scheduler(backend, streams=2, batch_tokens=8)
    short, _ = make_seq(b"hi")
    s.add(short)
    s.step()  # short prefilled, first token sampled
    long_, c_long = make_seq(b"y" * 30)
    s.add(long_)
    for _ in range(4):
        s.step()
    assert all(n <= 8 for n in backend.batch_sizes)
    # every step after the first carried one decode token for the short sequence
    assert backend.batch_sizes[1:5] == [8, 8, 8, 8]
    run_until_idle(s)
    assert c_long.text == "x" * 50


def test_cancelled_sequence_frees_its_slot_and_emits_nothing_more() -> None:
    s = Scheduler(ScriptBackend(b"abcdefgh"), streams=1, batch_tokens=16)
    seq, c = make_seq()
    s.add(seq)
    s.step()
    s.step()
    seq.cancelled = True
    n = len(c.outputs)
    s.step()
    assert not s.running and len(c.outputs) == n
    nxt, c2 = make_seq()
    s.add(nxt)
    run_until_idle(s)
    assert c2.text == "abcdefgh"


SYSTEM = b"You are a careful support desk. Answer in one sentence. " * 2
LONG_Q = b" Please explain it so that a child of ten understands every word of it."


def test_a_prompt_sharing_a_prefix_decodes_only_the_rest() -> None:
    backend = ScriptBackend(b"ok")
    s = Scheduler(backend, streams=2, batch_tokens=256)
    first, _ = make_seq(SYSTEM + b"one:" + LONG_Q)
    s.add(first)
    run_until_idle(s)
    second, c = make_seq(SYSTEM + b"two:" + LONG_Q)
    s.add(second)
    before = backend.decoded_tokens
    run_until_idle(s)
    assert backend.truncations[-1] == (first.slot, len(SYSTEM))
    assert backend.decoded_tokens - before == len(b"two:" + LONG_Q) + len(b"ok")
    assert c.text == "ok"
    assert (s.stats.prefix_hits, s.stats.cached_prompt_tokens) == (1, len(SYSTEM))
    # the slot's KV holds the second prompt and the outputs fed back (not the final EOG)
    assert backend.kv[second.slot] == list(SYSTEM + b"two:" + LONG_Q + b"ok")


def test_the_prompts_last_chunk_is_never_shorter_than_min_prefill() -> None:
    backend = ScriptBackend(b"ok")
    s = Scheduler(backend, streams=1, batch_tokens=128)
    seq, _ = make_seq(b"p" * 150)
    s.add(seq)
    run_until_idle(s)
    # 128 + 22 would leave a short tail: 86 + 64 instead, then the two outputs one by one
    assert backend.batch_sizes == [MIN_PREFILL + 22, MIN_PREFILL, 1, 1]


def generate(
    s: Scheduler, prompt: bytes, max_tokens: int = 12, *, steps: int | None = None
) -> tuple[Sequence, Collector]:
    seq, c = make_seq(prompt, max_tokens=max_tokens)
    s.add(seq)
    if steps is None:
        run_until_idle(s)
    else:
        for _ in range(steps):
            s.step()
    return seq, c


def cold(prompt: bytes, max_tokens: int = 12) -> str:
    """Greedy output on a fresh scheduler that reuses nothing."""
    s = Scheduler(ContextBackend(), streams=1, batch_tokens=16, prefix_cache=False)
    return generate(s, prompt, max_tokens)[1].text


def test_the_same_prompt_twice_gives_the_same_greedy_output() -> None:
    backend = ContextBackend()
    s = Scheduler(backend, streams=2, batch_tokens=128)
    _, c1 = generate(s, SYSTEM + b"Q: why?")
    before = backend.decoded_tokens
    _, c2 = generate(s, SYSTEM + b"Q: why?")
    assert c1.text == c2.text == cold(SYSTEM + b"Q: why?")
    # nothing of the prompt (held whole, with its last logits), then the 11 outputs fed back
    assert backend.decoded_tokens - before == 11
    assert s.stats.cached_prompt_tokens == len(SYSTEM + b"Q: why?")


def test_a_prompt_whose_logits_were_forgotten_decodes_its_last_min_prefill_tokens() -> None:
    backend = ContextBackend()
    s = Scheduler(backend, streams=2, batch_tokens=128)
    s.cache.logits_entries = 0
    _, c1 = generate(s, SYSTEM + b"Q: why?")
    before = backend.decoded_tokens
    _, c2 = generate(s, SYSTEM + b"Q: why?")
    assert c1.text == c2.text == cold(SYSTEM + b"Q: why?")
    # the last MIN_PREFILL prompt tokens, then the 11 outputs fed back
    assert backend.decoded_tokens - before == MIN_PREFILL + 11
    assert s.stats.cached_prompt_tokens == len(SYSTEM + b"Q: why?") - MIN_PREFILL


def test_a_repeat_of_a_running_prompt_is_copied_whole_and_decodes_none_of_it() -> None:
    backend = ContextBackend()
    s = Scheduler(backend, streams=2, batch_tokens=128)
    prompt = SYSTEM * 2 + b"Q: why?"
    first, c1 = make_seq(prompt, max_tokens=12)
    s.add(first)
    while not first.output:
        s.step()
    before = backend.decoded_tokens
    second, c2 = make_seq(prompt, max_tokens=12)
    s.add(second)
    run_until_idle(s)
    assert backend.copies == [(first.slot, second.slot)]
    assert s.stats.cached_prompt_tokens == len(prompt)
    # the first's 11 remaining outputs and the second's 11, fed back; no prompt token
    assert backend.decoded_tokens - before == 11 + 11
    assert c1.text == c2.text == cold(prompt)


def test_a_hit_on_the_prefix_with_a_new_suffix_matches_a_cold_run() -> None:
    backend = ContextBackend()
    s = Scheduler(backend, streams=2, batch_tokens=128)
    generate(s, SYSTEM + b"Q: why?" + LONG_Q)
    _, c = generate(s, SYSTEM + b"Q: how?" + LONG_Q)
    assert c.text == cold(SYSTEM + b"Q: how?" + LONG_Q)
    assert s.stats.prefix_hits == 1
    assert s.stats.cached_prompt_tokens == len(SYSTEM + b"Q: ")


def test_a_follow_up_turn_reuses_the_previous_prompt_but_not_its_output() -> None:
    backend = ContextBackend()
    s = Scheduler(backend, streams=2, batch_tokens=128)
    turn1 = SYSTEM + b"Q: why?"
    _, c = generate(s, turn1)
    turn2 = turn1 + c.text.encode() + b"\nQ: and then?" + LONG_Q
    _, c2 = generate(s, turn2)
    assert c2.text == cold(turn2)
    # outputs were decoded one by one, not as a prompt chunk: they are decoded again
    assert s.stats.cached_prompt_tokens == len(turn1)


def test_a_cancelled_prefill_leaves_only_the_decoded_chunks_for_reuse() -> None:
    backend = ContextBackend()
    s = Scheduler(backend, streams=1, batch_tokens=16)
    prompt = SYSTEM + b"Q: why?"
    seq, _ = generate(s, prompt, steps=2)  # two chunks of 16 prompt tokens
    seq.cancelled = True
    s.step()
    assert s.cache.held(0) == list(prompt[:32])
    before = backend.decoded_tokens
    _, c = generate(s, prompt)
    assert backend.truncations[-1] == (0, 32)
    assert backend.decoded_tokens - before == len(prompt) - 32 + 11
    assert c.text == cold(prompt)


def test_a_cancelled_generation_leaves_its_prompt_for_reuse() -> None:
    backend = ContextBackend()
    s = Scheduler(backend, streams=1, batch_tokens=128)
    prompt = SYSTEM + b"Q: why?"
    seq, c = generate(s, prompt, steps=4)  # prefill + 3 decode steps
    seq.cancelled = True
    s.step()
    assert len(seq.output) == 4
    assert s.cache.held(0) == list(prompt)
    follow = prompt + c.text.encode() + LONG_Q
    _, c2 = generate(s, follow)
    assert c2.text == cold(follow)
    assert backend.truncations[-1] == (0, len(prompt))


def test_a_failed_decode_leaves_nothing_for_reuse_even_if_part_of_it_was_written() -> None:
    class HalfWritten(ContextBackend):
        """Fails after writing the first half of a batch, as a failing later ubatch would."""

        fail = False

        def decode(self, plan):  # type: ignore[no-untyped-def]
            if self.fail:
                self.fail = False
                half = len(plan) // 2
                for slot, tok in zip(plan.slots[:half], plan.tokens[:half], strict=True):
                    self.kv.setdefault(slot, []).append(tok)
                raise RuntimeError("compute failed")
            super().decode(plan)

    backend = HalfWritten()
    s = Scheduler(backend, streams=1, batch_tokens=16)
    prompt = SYSTEM + b"Q: why?"
    generate(s, prompt, steps=1)
    backend.fail = True
    s.step()
    assert s.cache.held(0) == []
    _, c = generate(s, prompt)
    assert backend.truncations[-1] == (0, 0)
    assert c.text == cold(prompt)


def test_a_busy_slot_holding_the_prefix_is_copied_instead_of_decoded_again() -> None:
    backend = ContextBackend()
    s = Scheduler(backend, streams=2, batch_tokens=128)
    long_system = SYSTEM * 2
    first, c1 = generate(s, long_system + b"Q: why?", max_tokens=40, steps=2)
    assert first.status is SequenceStatus.RUNNING and not first.prefilling
    before = backend.decoded_tokens
    second, c2 = generate(s, long_system + b"Q: how?", steps=1)
    assert backend.copies == [(first.slot, second.slot)]
    keep = len(long_system + b"Q: how?") - MIN_PREFILL
    assert (s.stats.prefix_copies, s.stats.cached_prompt_tokens) == (1, keep)
    # one step: the first sequence's decode token and the rest of the second prompt
    assert backend.decoded_tokens - before == 1 + MIN_PREFILL
    run_until_idle(s)
    assert c2.text == cold(long_system + b"Q: how?")
    assert c1.text == cold(long_system + b"Q: why?", max_tokens=40)


def test_a_prompt_whose_slot_was_taken_comes_back_from_host_memory() -> None:
    backend = ContextBackend()
    s = Scheduler(backend, streams=1, batch_tokens=128, host_cache_bytes=10**6)
    first, other = SYSTEM * 2 + b"Q: why?", b"Something else entirely, no shared prefix."
    c1 = generate(s, first)[1]
    generate(s, other)
    assert backend.saves == [0]  # the first prompt, before the other one took the slot
    before = backend.decoded_tokens
    c2 = generate(s, first)[1]
    assert backend.loads == [0] and s.stats.host_cache_loads == 1
    assert backend.decoded_tokens - before == 11  # the prompt came back whole, with its logits
    assert c2.text == c1.text == cold(first)


def test_without_prefix_cache_every_prompt_is_decoded_whole() -> None:
    backend = ContextBackend()
    s = Scheduler(backend, streams=2, batch_tokens=128, prefix_cache=False)
    prompt = SYSTEM + b"Q: why?"
    generate(s, prompt)
    before = backend.decoded_tokens
    first_run = generate(s, prompt)[1].text
    assert backend.decoded_tokens - before == len(prompt) + 11
    assert backend.copies == [] and all(keep == 0 for _, keep in backend.truncations)
    assert s.stats.prefix_hits == s.stats.cached_prompt_tokens == 0
    assert first_run == cold(prompt)


def test_a_failed_decode_fails_running_sequences_and_keeps_serving() -> None:
    class Flaky(ScriptBackend):
        fail = True

        def decode(self, plan):  # type: ignore[no-untyped-def]
            if self.fail:
                self.fail = False
                raise RuntimeError("boom")
            super().decode(plan)

    s = Scheduler(Flaky(b"ab"), streams=1, batch_tokens=16)
    bad, c_bad = make_seq()
    s.add(bad)
    s.step()
    assert c_bad.finish == "error" and c_bad.outputs[-1].error == "boom"
    good, c_good = make_seq()
    s.add(good)
    run_until_idle(s)
    assert c_good.text == "ab"


def test_min_tokens_holds_the_end_back() -> None:
    s = Scheduler(ScriptBackend(b"ab"), streams=1, batch_tokens=16)
    seq, c = make_seq(min_tokens=5)
    s.add(seq)
    run_until_idle(s)
    # The script ends after "ab"; with its end forbidden the next-best tokens fill the gap.
    assert c.text.startswith("ab") and len(c.text) == 5
    assert (c.finish, c.outputs[-1].completion_tokens) == ("stop", 5)
