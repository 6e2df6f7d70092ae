import pytest
from pydantic import ValidationError

from autan.protocol.fine_tuning import FineTuningJobCreate


@pytest.mark.parametrize("suffix", ["my-model\n", "a b", "x" * 19])
def test_a_suffix_is_refused_unless_it_is_plain_characters_whole(suffix: str) -> None:
    # Pydantic's patterns match the whole string: a trailing newline does not slip through.
    with pytest.raises(ValidationError):
        FineTuningJobCreate(model="m", hyperparameters={}, suffix=suffix)  # type: ignore[arg-type]
    FineTuningJobCreate(model="m", hyperparameters={}, suffix="my-model")  # type: ignore[arg-type]
