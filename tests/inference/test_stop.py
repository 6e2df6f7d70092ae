from autan.inference.stop import StopMatcher


def run(stops: tuple[str, ...], pieces: list[str]) -> tuple[str, bool]:
    m = StopMatcher(stops)
    out = ""
    for p in pieces:
        text, hit = m.feed(p)
        out += text
        if hit:
            return out, True
    return out + m.flush(), False


def test_no_stops_passes_text_through() -> None:
    assert run((), ["a", "b"]) == ("ab", False)


def test_stop_inside_one_piece_is_cut() -> None:
    assert run(("END",), ["abcENDxyz"]) == ("abc", True)


def test_stop_split_across_pieces_never_leaks() -> None:
    m = StopMatcher(("</answer>",))
    emitted = []
    for piece in ["The answer is 4", "</", "ans", "wer>", " more"]:
        text, hit = m.feed(piece)
        emitted.append(text)
        if hit:
            break
    assert "".join(emitted) == "The answer is 4"
    assert all("<" not in e for e in emitted)


def test_partial_match_that_fails_is_released() -> None:
    assert run(("STOP",), ["ST", "ill going"]) == ("STill going", False)


def test_held_text_is_flushed_at_the_end() -> None:
    assert run(("STOP",), ["abc", "ST"]) == ("abcST", False)


def test_earliest_of_several_stops_wins() -> None:
    assert run(("b", "a"), ["xyzab"]) == ("xyz", True)


def test_empty_stop_strings_are_ignored() -> None:
    assert run(("",), ["abc"]) == ("abc", False)
