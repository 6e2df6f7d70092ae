"""Packaged models: a GGUF joined from parts is accepted only as published."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from autan.models.packaged import (
    CODE_MODEL,
    CODE_MODEL_REQUIREMENTS,
    PackagedModelCorrupt,
    PackagedModelMissing,
    SplitGguf,
    packaged_model_path,
)
from tests.server import ROOT

PARTS = [b"GGUF" + bytes(range(256)) * 3, bytes(range(255, -1, -1)) * 2, b"tail"]
WHOLE = b"".join(PARTS)


def _split(directory: Path, data: bytes = WHOLE) -> SplitGguf:
    return SplitGguf(
        file="model.gguf",
        parts=(("fake-part1", "part01.bin"),),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        install_hint="run `make code-model`",
        directory=directory / "models",
    )


def _parts(directory: Path, parts: list[bytes] = PARTS) -> list[Path]:
    paths = []
    for i, data in enumerate(parts, 1):
        path = directory / f"part{i:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_join_writes_the_parts_in_order_and_reports_progress(tmp_path: Path) -> None:
    split = _split(tmp_path)
    assert not split.installed()
    seen: list[tuple[str, int]] = []
    path = split.join(_parts(tmp_path), lambda part, written: seen.append((part.name, written)))
    assert path == split.target and split.installed()
    assert path.read_bytes() == WHOLE
    sizes = [len(p) for p in PARTS]
    assert seen == [
        ("part01.bin", sizes[0]),
        ("part02.bin", sizes[0] + sizes[1]),
        ("part03.bin", len(WHOLE)),
    ]
    assert split.path() == path
    split.verify()


@pytest.mark.parametrize(
    ("parts", "problem"),
    [
        (PARTS[:2], "bytes, not the published"),  # a part missing: short
        ([*PARTS, b"x"], "more than the published"),  # a part too many
        ([PARTS[0], PARTS[2], PARTS[1]], "sha256"),  # out of order: same size, other bytes
    ],
)
def test_join_refuses_parts_that_do_not_make_the_published_file(
    tmp_path: Path, parts: list[bytes], problem: str
) -> None:
    split = _split(tmp_path)
    with pytest.raises(PackagedModelCorrupt, match=problem):
        split.join(_parts(tmp_path, parts))
    assert not split.installed()
    assert list(split.directory.iterdir()) == []  # no partial file left behind


def test_a_missing_file_asks_for_make_code_model(tmp_path: Path) -> None:
    with pytest.raises(PackagedModelMissing, match=r"not installed: run `make code-model`"):
        _split(tmp_path).path()


def test_a_short_file_is_refused_without_hashing(tmp_path: Path) -> None:
    split = _split(tmp_path)
    split.directory.mkdir()
    split.target.write_bytes(WHOLE[:-1])
    with pytest.raises(PackagedModelCorrupt, match=r"bytes, not the published .* refused"):
        split.path()
    with pytest.raises(PackagedModelCorrupt):
        split.verify()


def test_a_file_of_the_right_size_with_other_bytes_fails_verification(tmp_path: Path) -> None:
    split = _split(tmp_path)
    split.directory.mkdir()
    corrupted = bytearray(WHOLE)
    corrupted[100] ^= 0xFF
    split.target.write_bytes(bytes(corrupted))
    assert split.path() == split.target  # the size matches
    with pytest.raises(PackagedModelCorrupt, match=r"sha256 [0-9a-f]{64}, not the published"):
        split.verify()


def test_a_verified_file_that_changes_is_hashed_again(tmp_path: Path) -> None:
    split = _split(tmp_path)
    split.join(_parts(tmp_path))
    split.verify()
    corrupted = bytearray(WHOLE)
    corrupted[0] ^= 0xFF
    split.target.write_bytes(bytes(corrupted))
    stat = split.target.stat()
    os.utime(split.target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with pytest.raises(PackagedModelCorrupt):
        split.verify()


def test_uninstalled_parts_say_how_to_install_them(tmp_path: Path) -> None:
    with pytest.raises(PackagedModelMissing, match="fake-part1 is not installed"):
        _split(tmp_path).part_paths()


def test_an_unknown_packaged_name_lists_the_packaged_models() -> None:
    with pytest.raises(PackagedModelMissing, match=r"qwen2\.5-coder-0\.5b-instruct"):
        packaged_model_path("nope")


def test_the_code_model_requirements_pin_each_part_by_hash() -> None:
    """The hash-pinned wheels are the six distributions the join reads, at 0.9.0."""
    text = (ROOT / CODE_MODEL_REQUIREMENTS).read_text()
    pins = re.findall(r"^([\w-]+)==0\.9\.0 --hash=sha256:([0-9a-f]{64})$", text, re.MULTILINE)
    assert [name for name, _ in pins] == [dist for dist, _ in CODE_MODEL.parts]
    assert len({digest for _, digest in pins}) == 6
    assert [file for _, file in CODE_MODEL.parts] == [f"part0{i}.bin" for i in range(1, 7)]
    assert CODE_MODEL.size == 5 * 89_128_960 + 45_755_264
