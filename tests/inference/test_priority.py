"""Interactive sequences are admitted before batch ones, and batch ones never take every slot."""

import itertools

import pytest

from autan.inference.scheduler import Scheduler
from autan.inference.sequence import Priority
from tests.fakes import ScriptBackend
from tests.inference.test_scheduler import make_seq, run_until_idle


def test_interactive_sequence_jumps_the_waiting_batch_sequences() -> None:
    s = Scheduler(ScriptBackend(b"abcdefgh"), streams=1, batch_tokens=16, batch_slots=1)
    batch = [make_seq(b"batch") for _ in range(3)]
    for seq, _ in batch:
        seq.priority = Priority.BATCH
        s.add(seq)
    s.step()  # one batch sequence takes the slot, two wait
    interactive, c = make_seq(b"live")
    s.add(interactive)
    assert s.waiting[0] is interactive
    while interactive not in s.running:
        s.step()
    # The first slot to free up went to it, not to the batch sequences queued before it.
    assert [seq for seq, _ in batch[1:]] == list(s.waiting)
    run_until_idle(s)
    assert c.text == "abcdefgh"
    assert all(collector.text == "abcdefgh" for _, collector in batch)


def test_batch_sequences_leave_one_slot_free_by_default() -> None:
    s = Scheduler(ScriptBackend(b"abcdefgh"), streams=4, batch_tokens=16)
    assert s.batch_slots == 3
    for _ in range(6):
        seq, _ = make_seq(b"batch")
        seq.priority = Priority.BATCH
        s.add(seq)
    s.step()
    assert len(s.running) == 3 and len(s.waiting) == 3
    interactive, c = make_seq(b"live")
    s.add(interactive)
    s.step()
    assert interactive in s.running  # admitted at once: the free slot was kept for it
    run_until_idle(s)
    assert c.text == "abcdefgh"


def test_batch_slots_is_a_cap_not_a_reservation_for_interactive_work() -> None:
    s = Scheduler(ScriptBackend(b"ab"), streams=2, batch_tokens=16, batch_slots=1)
    seqs = [make_seq(b"live") for _ in range(2)]
    for seq, _ in seqs:
        s.add(seq)
    s.step()
    assert len(s.running) == 2  # interactive sequences may use every slot


def test_an_interactive_prefill_step_carries_no_batch_tokens() -> None:
    backend = ScriptBackend(b"abcdefgh")
    s = Scheduler(backend, streams=4, batch_tokens=64)
    for _ in range(3):
        seq, _ = make_seq(b"batch")
        seq.priority = Priority.BATCH
        s.add(seq)
    s.step()
    s.step()  # three batch sequences decoding: 3 tokens a step
    assert backend.batch_sizes[-1] == 3
    interactive, c = make_seq(b"a long interactive prompt")
    s.add(interactive)
    s.step()
    assert backend.batch_sizes[-1] == len(b"a long interactive prompt")  # its prefill alone
    assert c.outputs[0].text == "a"  # and its first token
    s.step()
    # While interactive work runs, one batch sequence decodes beside it: short steps.
    assert backend.batch_sizes[-1] == 2
    run_until_idle(s)


def test_without_interactive_work_every_batch_sequence_decodes() -> None:
    backend = ScriptBackend(b"abcdefghijkl")
    s = Scheduler(backend, streams=4, batch_tokens=64, interactive_grace=0.0)
    interactive, c = make_seq(b"live", max_tokens=2)
    s.add(interactive)
    for _ in range(3):
        seq, _ = make_seq(b"batch")
        seq.priority = Priority.BATCH
        s.add(seq)
    while c.finish is None:
        s.step()
    s.step()  # the interactive sequence is gone and its grace is zero: all three decode
    assert backend.batch_sizes[-1] == 3
    run_until_idle(s)


def test_under_interactive_load_batch_work_gives_its_slots_back() -> None:
    backend = ScriptBackend(b"abcdefghijklmnopqrstuvwxyz")
    s = Scheduler(backend, streams=4, batch_tokens=64, interactive_grace=60.0)
    for _ in range(6):
        seq, _ = make_seq(b"batch", max_tokens=2)
        seq.priority = Priority.BATCH
        s.add(seq)
    s.step()
    assert sum(seq.priority is Priority.BATCH for seq in s.running) == 3
    live, c = make_seq(b"live")
    s.add(live)
    while c.finish is None and len(backend.batch_sizes) < 200:
        s.step()
        # Lines that end are not replaced while interactive work runs: one batch at most.
        batch = sum(seq.priority is Priority.BATCH for seq in s.running)
        assert batch <= 3
    assert sum(seq.priority is Priority.BATCH for seq in s.running) <= 1
    run_until_idle(s)


def test_the_batch_sequence_beside_interactive_work_is_the_one_in_the_next_slot() -> None:
    backend = ScriptBackend(b"abcdefghijklmnopqrstuvwxyz")
    s = Scheduler(backend, streams=4, batch_tokens=64, interactive_grace=60.0)
    for _ in range(3):
        seq, _ = make_seq(b"batch", max_tokens=20)
        seq.priority = Priority.BATCH
        s.add(seq)
    s.step()
    s.step()
    assert sorted(seq.slot for seq in s.running) == [0, 1, 2]
    live, c = make_seq(b"live", max_tokens=3)
    s.add(live)
    s.step()  # the interactive prefill, alone
    assert live.slot == 3 and backend.batch_slots[-1] == [3] * len(b"live")
    s.step()
    # Slot 2 rides along rather than slot 0 (admitted first): adjacent slots decode in one
    # pass over the weights.
    assert sorted(backend.batch_slots[-1]) == [2, 3]
    run_until_idle(s)
    assert c.text == "abc"


def test_batch_only_steps_wait_the_hold_once_interactive_work_ends() -> None:
    backend = ScriptBackend(b"abcdefghijklmnopqrstuvwxyz")
    s = Scheduler(backend, streams=4, batch_tokens=64, interactive_hold=60.0)
    batch, _ = make_seq(b"batch", max_tokens=20)
    batch.priority = Priority.BATCH
    s.add(batch)
    assert s.step() == 0.0  # no interactive work yet: batch work runs freely
    live, c = make_seq(b"live", max_tokens=2)
    s.add(live)
    while c.finish is None:
        assert s.step() == 0.0
    decoded = len(backend.batch_sizes)
    pause = s.step()
    assert 59.0 < pause <= 60.0  # the client's next request would find the engine free
    assert len(backend.batch_sizes) == decoded
    again, _ = make_seq(b"next", max_tokens=2)
    s.add(again)
    assert s.step() == 0.0  # it arrives during the hold and runs at once
    assert again in s.running


def test_without_a_hold_batch_work_goes_on_at_once() -> None:
    backend = ScriptBackend(b"abcdefghijklmnopqrstuvwxyz")
    s = Scheduler(backend, streams=4, batch_tokens=64)
    batch, _ = make_seq(b"batch", max_tokens=20)
    batch.priority = Priority.BATCH
    s.add(batch)
    live, c = make_seq(b"live", max_tokens=2)
    s.add(live)
    while c.finish is None:
        s.step()
    decoded = len(backend.batch_sizes)
    assert s.step() == 0.0
    assert len(backend.batch_sizes) == decoded + 1


@pytest.mark.parametrize(
    ("slots", "parallel", "batch_slots"),
    [
        (4, 3, 3),  # --parallel 3 and one reserve: batch fills every slot of --parallel
        (5, 2, 4),  # --batch-slots 4 over --parallel 2: extra streams only batch lines use
    ],
)
def test_batch_fills_its_slots_and_an_interactive_request_still_starts_at_once(
    slots: int, parallel: int, batch_slots: int
) -> None:
    s = Scheduler(
        ScriptBackend(b"abcdefgh"),
        streams=slots,
        interactive_slots=parallel,
        batch_slots=batch_slots,
        batch_tokens=16,
    )
    for _ in range(batch_slots + 2):
        seq, _ = make_seq(b"batch")
        seq.priority = Priority.BATCH
        s.add(seq)
    s.step()
    assert len(s.running) == batch_slots
    live, c = make_seq(b"live")
    s.add(live)
    s.step()
    assert live in s.running  # the reserve slot
    run_until_idle(s)
    assert c.text == "abcdefgh"


def nine_streams(backend: ScriptBackend) -> Scheduler:
    """--parallel 8 with its interactive reserve: nine KV streams, eight for batch lines."""
    return Scheduler(
        backend,
        streams=9,
        interactive_slots=8,
        batch_slots=8,
        batch_tokens=64,
        interactive_grace=0.0,
    )


def test_without_batch_lines_interactive_requests_leave_the_reserve_slot_at_the_top() -> None:
    # Nine streams, --parallel 8. A request that came while batch lines held slots 0 to 7 ran
    # in the reserve (slot 8), which keeps its prompt. Once the batch is over, eight requests,
    # that prompt among them, take slots 0 to 7: one run of sequence ids, decoded in one
    # micro-batch without a pad row, rather than the reserve's hit and a hole below it.
    backend = ScriptBackend(b"abcdefgh")
    s = nine_streams(backend)
    for i in range(8):
        line, _ = make_seq(f"line {i}".encode(), max_tokens=6)
        line.priority = Priority.BATCH
        s.add(line)
    s.step()
    early, _ = make_seq(b"prompt 0", max_tokens=2)
    s.add(early)
    s.step()
    assert early.slot == 8
    run_until_idle(s)
    seqs = [make_seq(f"prompt {i}".encode(), max_tokens=4)[0] for i in range(8)]
    for seq in seqs:
        s.add(seq)
    backend.batch_slots.clear()
    run_until_idle(s)
    assert sorted(seq.slot for seq in seqs) == list(range(8))
    assert all(_holes(slots) == 0 for slots in backend.batch_slots)


def test_interactive_work_never_holds_more_than_its_slots() -> None:
    s = Scheduler(ScriptBackend(b"ab"), streams=4, interactive_slots=3, batch_tokens=16)
    for _ in range(4):
        seq, _ = make_seq(b"live")
        s.add(seq)
    s.step()
    assert len(s.running) == 3 and len(s.waiting) == 1
    run_until_idle(s)


def _holes(slots: list[int]) -> int:
    """Runs of unused slots between used ones."""
    used = sorted(set(slots))
    return sum(1 for lo, hi in itertools.pairwise(used) if hi - lo > 1)


def test_a_batch_running_alone_keeps_its_slots_in_one_run() -> None:
    # Eight batch slots of nine streams: one slot is always free. Lines of one prompt end at
    # different times; each next line takes the lowest free slot, so the free one stays at
    # the top, though every free slot holds the prompt (an interactive request used one).
    backend = ScriptBackend(b"abcdefghijklmnop")
    s = nine_streams(backend)
    live, _ = make_seq(b"classify this", max_tokens=2)
    s.add(live)
    for i in range(60):
        seq, _ = make_seq(b"classify this", max_tokens=3 + (i * 7) % 11)
        seq.priority = Priority.BATCH
        s.add(seq)
    run_until_idle(s)
    full = [slots for slots in backend.batch_slots if len(set(slots)) == 8]
    # 420 output rows (each line's first token comes from the prompt's kept logits), 8 a step
    assert len(full) > 45
    # The interactive request's slot 0 frees first, below the batch's: a hole until the line
    # in the top slot ends. From then on, none.
    assert [_holes(slots) for slots in full[12:]] == [0] * (len(full) - 12)


def test_near_interactive_work_a_batch_line_takes_the_least_recently_released_slot() -> None:
    s = Scheduler(
        ScriptBackend(b"abcdefgh"),
        streams=4,
        interactive_slots=3,
        batch_slots=3,
        batch_tokens=64,
        interactive_grace=10.0,
    )
    # Three turns of one prompt in slots 0, 1 and 2, ending in the order 2, 1, 0.
    for max_tokens in (3, 2, 1):
        seq, _ = make_seq(b"shared prompt", max_tokens=max_tokens)
        s.add(seq)
    run_until_idle(s)
    assert s.cache.free == [3, 2, 1, 0]
    live, _ = make_seq(b"zzzz", max_tokens=50)
    s.add(live)
    s.step()
    assert live.slot == 2  # the least recently released of --parallel's; the reserve stays free
    line, _ = make_seq(b"shared prompt", max_tokens=2)
    line.priority = Priority.BATCH
    s.add(line)
    s.step()
    # Slots 0 and 1 hold as much of its prompt: the one released first, not the lowest, so
    # that the newest turns keep their KV.
    assert line.slot == 1
