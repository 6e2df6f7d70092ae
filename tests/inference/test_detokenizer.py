from autan.inference.detokenizer import Detokenizer


def test_multibyte_character_split_over_tokens_waits_for_its_rest() -> None:
    pieces = {1: "é".encode()[:1], 2: "é".encode()[1:], 3: b"!"}
    d = Detokenizer(pieces.__getitem__)
    assert d.feed(1) == ""
    assert d.feed(2) == "é"
    assert d.feed(3) == "!"
    assert d.flush() == ""


def test_incomplete_character_at_the_end_is_replaced() -> None:
    d = Detokenizer({1: "€".encode()[:2]}.__getitem__)
    assert d.feed(1) == ""
    assert d.flush() == "\ufffd"
