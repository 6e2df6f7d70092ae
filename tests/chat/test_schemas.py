import json

import pytest

from autan.chat.schemas import close_objects, lark_json
from autan.inference.constraints import Grammars
from tests.fakes import ByteVocabulary


@pytest.fixture(scope="module")
def grammars() -> Grammars:
    return Grammars(ByteVocabulary().grammar_tokenizer(), 256)


def takes(grammars: Grammars, schema: dict[str, object], value: str) -> bool:
    """Whether the grammar of ``schema`` lets every byte of ``value`` (as JSON) through."""
    c = grammars.constraint(grammars.lark("start: " + lark_json(schema)))
    for byte in json.dumps(value).encode():
        if not c.allowed()[byte]:
            return False
        c.consume(byte)
    return c.done


@pytest.mark.parametrize(
    ("fmt", "year_zero", "valid"),
    [
        ("date", "0000-01-01", "0001-12-31"),
        ("date-time", "0000-01-01T00:00:00Z", "2024-02-28T10:00:00Z"),
    ],
)
def test_dates_have_a_year_the_calendar_knows(
    grammars: Grammars, fmt: str, year_zero: str, valid: str
) -> None:
    schema = {"type": "string", "format": fmt}
    assert not takes(grammars, schema, year_zero)
    assert takes(grammars, schema, valid)


def test_a_pattern_the_client_gives_is_kept() -> None:
    schema = {"type": "string", "format": "date", "pattern": "^2024-"}
    assert close_objects(schema)["pattern"] == "^2024-"
