from pathlib import Path

import pytest

from autan.errors import TrainingFileNotFound
from autan.fine_tuning.training_files import DirectoryTrainingFiles


def test_a_file_is_found_in_its_workspace_or_shared(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "mine.jsonl").write_text("{}\n")
    (tmp_path / "shared.jsonl").write_text("{}\n")
    files = DirectoryTrainingFiles(tmp_path)
    assert files.open("mine", "ws") == tmp_path / "ws" / "mine.jsonl"
    assert files.open("shared", "ws") == tmp_path / "shared.jsonl"


@pytest.mark.parametrize("file_id", ["data\n", "../ws/mine", ".hidden", "a/b"])
def test_an_id_that_is_not_a_plain_name_is_not_found(tmp_path: Path, file_id: str) -> None:
    # A file whose name holds the newline exists: the id must still not reach it.
    (tmp_path / "data\n.jsonl").write_text("{}\n")
    (tmp_path / ".hidden.jsonl").write_text("{}\n")
    with pytest.raises(TrainingFileNotFound):
        DirectoryTrainingFiles(tmp_path).open(file_id, "ws")
