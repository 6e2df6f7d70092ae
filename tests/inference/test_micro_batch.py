"""The model of libllama's micro-batches, and the cap on tokens a decoding slot feeds."""

from autan.inference.micro_batch import cap, lone_gaps, passes


def test_a_micro_batch_takes_a_run_of_slots_and_as_many_tokens_from_each_as_the_least() -> None:
    assert passes(dict(enumerate([1, 1, 3, 1, 2, 1, 1, 1]))) == [8, 2, 1]
    assert passes({0: 1, 1: 1, 3: 1}) == [2, 1]  # slot 2 missing cuts the run
    assert passes({0: 4}) == [4]
    assert passes({}) == []


def test_the_cap_keeps_thin_passes_out_of_a_step() -> None:
    # Two sequences with a few forced tokens each: one pass of eight rows beats three passes.
    assert cap({}, dict(enumerate([1, 1, 3, 1, 2, 1, 1, 1]))) == 1
    # A long forced run fills a pass of its own: it is decoded now.
    assert cap({}, dict(enumerate([1, 1, 1, 1, 1, 1, 1, 12]))) == 12
    # Every sequence has forced tokens: three each go in one pass, the fourth waits.
    assert cap({}, {0: 3, 1: 3, 2: 4}) == 3
    assert cap({}, {0: 3, 1: 3, 2: 3}) == 3
    # A prefill chunk makes its own pass anyway; a decoding slot's extra token would add one.
    assert cap({2: 100}, {0: 1, 1: 2}) == 1


def test_a_lone_free_slot_between_busy_ones_is_a_gap() -> None:
    assert lone_gaps({0, 2, 3, 6}) == {1}
    assert lone_gaps({0, 1, 2}) == set()
