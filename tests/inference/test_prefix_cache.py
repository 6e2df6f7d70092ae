from autan.inference.prefix_cache import (
    MIN_COPY_GAIN,
    MIN_HIT,
    MIN_PREFILL,
    Placement,
    PrefixCache,
)

PREFIX = list(range(1000, 1000 + 3 * MIN_HIT))
TAIL = list(range(2000, 2000 + MIN_PREFILL))  # what a hit always decodes again


def taken(slots: int, *, enabled: bool = True) -> PrefixCache:
    """A cache whose slots are all in use."""
    cache = PrefixCache(slots, enabled=enabled)
    for _ in range(slots):
        cache.place([1])
    return cache


def test_a_free_slot_holding_the_longest_prefix_is_chosen() -> None:
    cache = taken(3)
    cache.release(0, PREFIX[:MIN_HIT])
    cache.release(1, [*PREFIX[:40], 7])
    cache.release(2, [9, 9])
    assert cache.place([*PREFIX[:40], 8, *TAIL]) == Placement(slot=1, keep=40)
    assert cache.free == [0, 2]


def test_a_match_shorter_than_min_hit_leaves_its_slot_alone() -> None:
    cache = taken(2)
    cache.release(0, [])
    cache.release(1, PREFIX)
    short = [*PREFIX[: MIN_HIT - 1], 0, *TAIL]
    # Copied into the empty slot instead.
    assert cache.place(short) == Placement(slot=0, keep=MIN_HIT - 1, source=1)
    assert cache.held(1) == PREFIX
    cache.release(0, [])
    cache.place([2])
    cache.release(0, [2])
    # No empty slot any more: no copy, the least recently released slot is taken.
    assert cache.place(short) == Placement(slot=1, keep=0)


def test_the_last_min_prefill_prompt_tokens_are_always_decoded() -> None:
    cache = taken(1)
    prompt = [*PREFIX, *TAIL]
    cache.release(0, prompt)
    assert cache.place(prompt) == Placement(slot=0, keep=len(PREFIX))


def test_a_prompt_of_min_prefill_tokens_reuses_nothing() -> None:
    cache = taken(1)
    cache.release(0, TAIL)
    assert cache.place(TAIL) == Placement(slot=0, keep=0)


def test_without_a_match_the_least_recently_released_slot_is_taken() -> None:
    cache = taken(3)
    cache.release(2, [5])
    cache.release(0, [6])
    cache.release(1, [7])
    assert cache.place([8, *TAIL]) == Placement(slot=2, keep=0)


def test_a_placed_slot_forgets_what_it_held_until_released() -> None:
    cache = taken(1)
    cache.release(0, PREFIX)
    cache.place([*PREFIX, *TAIL])
    assert cache.held(0) == []


def test_a_much_longer_match_in_a_busy_slot_is_copied_into_a_free_one() -> None:
    cache = PrefixCache(2)
    busy = cache.place([1])
    placed = cache.place([*PREFIX, *TAIL], [(busy.slot, [*PREFIX, 7, 7])])
    assert placed == Placement(slot=1, keep=len(PREFIX), source=0)


def test_a_copy_must_save_at_least_min_copy_gain_tokens() -> None:
    prompt = [*PREFIX, *TAIL]
    for gain, copied in ((MIN_COPY_GAIN - 1, False), (MIN_COPY_GAIN, True)):
        cache = taken(2)
        cache.release(1, PREFIX[:MIN_HIT])
        placed = cache.place(prompt, [(0, PREFIX[: MIN_HIT + gain])])
        expected = Placement(1, MIN_HIT + gain, 0) if copied else Placement(1, MIN_HIT)
        assert placed == expected


def test_disabled_cache_reuses_nothing_and_copies_nothing() -> None:
    cache = taken(2, enabled=False)
    cache.release(0, PREFIX)
    placed = cache.place([*PREFIX, *TAIL], [(1, PREFIX)])
    assert placed == Placement(slot=0, keep=0)
    assert cache.held(0) == []


def test_a_short_prompt_reuses_a_short_shared_opening_and_decodes_only_the_rest() -> None:
    cache = taken(2)
    opening = list(range(3000, 3024))  # a chat template's system turn
    cache.release(0, [*opening, 1, 2, 3])
    cache.release(1, [9, 9])
    prompt = [*opening, 4, 5, 6, 7]
    assert len(prompt) < MIN_PREFILL
    assert cache.place(prompt) == Placement(slot=0, keep=len(opening))


def test_a_short_prompt_always_decodes_its_last_token() -> None:
    cache = taken(1)
    prompt = list(range(3000, 3040))
    cache.release(0, prompt)
    assert cache.place(prompt) == Placement(slot=0, keep=len(prompt) - 1)


def test_while_an_empty_slot_is_free_a_short_opening_is_not_cut_from_another_prompt() -> None:
    # Two chat prompts sharing only the template's opening: the second goes to the empty slot,
    # the opening copied there, so that each finds its whole prompt when it comes again.
    cache = PrefixCache(3)
    opening = list(range(3000, 3024))
    assert len(opening) >= MIN_COPY_GAIN
    first, second = [*opening, 1, 2, 3], [*opening, 4, 5, 6]
    assert cache.place(first) == Placement(slot=0, keep=0)
    cache.release(0, first)
    assert cache.place(second) == Placement(slot=1, keep=len(opening), source=0)
    cache.release(1, second)
    assert cache.place(first) == Placement(slot=0, keep=len(first) - 1)
    assert cache.place(second) == Placement(slot=1, keep=len(second) - 1)


def test_an_opening_shorter_than_min_copy_gain_is_decoded_in_the_empty_slot() -> None:
    cache = taken(2)
    cache.release(1, [])
    cache.release(0, [*range(MIN_COPY_GAIN - 1), 1, 2])
    placed = cache.place([*range(MIN_COPY_GAIN - 1), 3, 4])
    assert placed == Placement(slot=1, keep=0)


def test_without_a_match_an_empty_slot_is_taken_before_one_holding_a_prompt() -> None:
    cache = taken(3)
    cache.release(2, [5])
    cache.release(0, [])
    cache.release(1, [7])
    assert cache.place([8, *TAIL]) == Placement(slot=0, keep=0)
    assert cache.held(2) == [5] and cache.held(1) == [7]


def test_a_short_match_does_not_cut_a_slot_holding_a_long_prefix() -> None:
    cache = taken(2)
    cache.release(1, [9])
    cache.release(0, [*PREFIX[:24], *TAIL])
    assert cache.place([*PREFIX[:24], 5, 6]) == Placement(slot=1, keep=0)
    assert cache.held(0) == [*PREFIX[:24], *TAIL]


def test_compact_takes_the_lowest_free_slot_among_equal_matches() -> None:
    # Slots 0-4 busy but 2 and 4; both hold the prompt's prefix, 4 released first.
    cache = taken(5)
    cache.release(4, [*PREFIX, 1])
    cache.release(2, [*PREFIX, 2])
    prompt = [*PREFIX, 3, *TAIL]
    # Interactive: the least recently released. Batch: the lowest, so the free one is at the top.
    assert cache.place(prompt) == Placement(slot=4, keep=len(PREFIX))
    cache.release(4, [*PREFIX, 1])
    assert cache.place(prompt, compact=True) == Placement(slot=2, keep=len(PREFIX))
    assert cache.free == [4]


def test_compact_still_prefers_the_longer_match_to_the_slot_without_a_hole() -> None:
    # Free: 4 (holds the prefix) and 2 (holds nothing of it), between busy 1 and 3.
    cache = taken(5)
    cache.release(4, [*PREFIX, 1])
    cache.release(2, [9])
    placed = cache.place([*PREFIX, 3, *TAIL], compact=True)
    assert placed == Placement(slot=4, keep=len(PREFIX))


def test_a_prompt_cut_from_its_slot_is_saved_and_loaded_back_when_it_comes_again() -> None:
    cache = PrefixCache(1, host_bytes=1000)
    first, second = [*PREFIX, *TAIL], [7, *TAIL]
    assert cache.place(first) == Placement(slot=0, keep=0)
    cache.release(0, first)
    placed = cache.place(second)
    assert (placed.slot, placed.keep, placed.save) == (0, 0, first)
    cache.store(first, "state of the first", 100)
    cache.release(0, second)
    again = cache.place(first)
    assert again.restore is not None and again.restore.state == "state of the first"
    assert (again.slot, again.keep, again.source) == (0, len(PREFIX), None)
    assert again.save == second  # and the second prompt goes to host memory in its turn


def test_saved_prompts_stay_within_their_bytes_the_least_recently_used_going_first() -> None:
    cache = PrefixCache(1, host_bytes=250)
    prompts = [[i, *PREFIX] for i in range(3)]
    for i, prompt in enumerate(prompts):
        cache.store(prompt, i, 100)
    assert [e.state for e in cache.saved] == [1, 2] and cache.saved_bytes == 200
    cache.store([*prompts[2], 5], 3, 100)  # extends a saved one: replaces it
    assert [e.state for e in cache.saved] == [1, 3]
    cache.store([9], 4, 300)  # larger than the whole budget: not kept
    assert [e.state for e in cache.saved] == [1, 3]


def test_without_host_bytes_nothing_is_saved() -> None:
    cache = PrefixCache(1)
    cache.place([*PREFIX, *TAIL])
    cache.release(0, [*PREFIX, *TAIL])
    assert cache.place([7, *TAIL]).save is None


def test_beside_running_work_a_match_is_copied_to_the_lowest_free_slot() -> None:
    cache = taken(6)
    for slot in (1, 2, 3, 4, 5):
        cache.release(slot, [slot, *PREFIX])
    busy = [(0, [0, *PREFIX])]
    # The match sits in slot 4: taking it would leave slots 1 to 3 free inside the run.
    placed = cache.place([4, *PREFIX, *TAIL], busy, below=6)
    assert placed == Placement(slot=1, keep=1 + len(PREFIX), source=4)
    assert cache.held(4) == [4, *PREFIX]  # the source keeps its prompt
    # Alone on the engine, the match is taken where it is.
    cache = taken(3)
    for slot in (0, 1, 2):
        cache.release(slot, [slot, *PREFIX])
    assert cache.place([2, *PREFIX, *TAIL], [], below=3) == Placement(2, 1 + len(PREFIX))


def test_beside_one_running_request_the_next_goes_next_to_it() -> None:
    cache = taken(8)
    for slot in range(8):
        if slot != 5:
            cache.release(slot, [slot, *PREFIX])
    busy = [(5, [5, *PREFIX])]
    placed = cache.place([9, 9, 9], busy, below=8)  # no match anywhere
    assert placed.slot in (4, 6)  # 5 and it make one run
