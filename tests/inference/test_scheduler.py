from autan.inference.sampling import SamplingParams
from autan.inference.scheduler import Scheduler
from autan.inference.sequence import Sequence, SequenceOutput, SequenceStatus
from tests.fakes import ScriptBackend


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
    s = Scheduler(ScriptBackend(b"abc"), slots=2, batch_tokens=16)
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
    s = Scheduler(ScriptBackend(b"abcdef"), slots=1, batch_tokens=16)
    seq, c = make_seq(max_tokens=2)
    s.add(seq)
    run_until_idle(s)
    assert (c.text, c.finish, c.outputs[-1].completion_tokens) == ("ab", "length", 2)


def test_max_tokens_zero_generates_nothing_and_decodes_nothing() -> None:
    backend = ScriptBackend(b"abc")
    s = Scheduler(backend, slots=1, batch_tokens=16)
    seq, c = make_seq(max_tokens=0)
    s.add(seq)
    run_until_idle(s)
    assert (c.text, c.finish, c.outputs[-1].completion_tokens) == ("", "length", 0)
    assert backend.decoded_tokens == 0


def test_context_limit_caps_the_output() -> None:
    s = Scheduler(ScriptBackend(b"abcdefgh"), slots=1, batch_tokens=16)
    seq, c = make_seq(b"12345", context=8)
    s.add(seq)
    run_until_idle(s)
    assert (c.text, c.finish) == ("abc", "length")


def test_stop_string_ends_the_sequence_without_leaking() -> None:
    s = Scheduler(ScriptBackend(b"one two three"), slots=1, batch_tokens=16)
    seq, c = make_seq(stop=(" tw",))
    s.add(seq)
    run_until_idle(s)
    assert (c.text, c.finish) == ("one", "stop")


def test_only_free_slots_admit_and_a_freed_slot_admits_at_once() -> None:
    s = Scheduler(ScriptBackend(b"ab"), slots=2, batch_tokens=16)
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
    s = Scheduler(backend, slots=2, batch_tokens=8)
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
    s = Scheduler(ScriptBackend(b"abcdefgh"), slots=1, batch_tokens=16)
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


def test_a_prompt_sharing_a_prefix_reuses_the_slot_cache() -> None:
    backend = ScriptBackend(b"ok")
    s = Scheduler(backend, slots=2, batch_tokens=64)
    first, _ = make_seq(b"system prompt; question one")
    s.add(first)
    run_until_idle(s)
    second, c = make_seq(b"system prompt; question two")
    s.add(second)
    before = backend.decoded_tokens
    run_until_idle(s)
    assert backend.truncations[-1][1] == len(b"system prompt; question ")
    assert backend.decoded_tokens - before == len(b"two") + len(b"ok")
    assert c.text == "ok"


def test_a_failed_decode_fails_running_sequences_and_keeps_serving() -> None:
    class Flaky(ScriptBackend):
        fail = True

        def decode(self, plan):  # type: ignore[no-untyped-def]
            if self.fail:
                self.fail = False
                raise RuntimeError("boom")
            super().decode(plan)

    s = Scheduler(Flaky(b"ab"), slots=1, batch_tokens=16)
    bad, c_bad = make_seq()
    s.add(bad)
    s.step()
    assert c_bad.finish == "error" and c_bad.outputs[-1].error == "boom"
    good, c_good = make_seq()
    s.add(good)
    run_until_idle(s)
    assert c_good.text == "ab"


def test_min_tokens_holds_the_end_back() -> None:
    s = Scheduler(ScriptBackend(b"ab"), slots=1, batch_tokens=16)
    seq, c = make_seq(min_tokens=5)
    s.add(seq)
    run_until_idle(s)
    # The script ends after "ab"; with its end forbidden the next-best tokens fill the gap.
    assert c.text.startswith("ab") and len(c.text) == 5
    assert (c.finish, c.outputs[-1].completion_tokens) == ("stop", 5)
