from pathlib import Path

import pytest

from autan.models.footprint import Footprint, GgufUnreadable
from autan.models.packaged import packaged_model_path


def test_reads_the_packaged_gguf_header() -> None:
    path = packaged_model_path()
    fp = Footprint.read(path)
    assert fp.name == "Smollm2 135M 8k Lc100K Mix1 Ep2"
    assert fp.description == "llama 135M"
    assert fp.context_train == 8192
    assert fp.file_bytes == path.stat().st_size
    # SmolLM2-135M: 30 layers, 3 KV heads of 64, K and V in f16
    assert fp.kv_bytes_per_cell == 2 * 30 * 3 * 64 * 2
    assert fp.context_for(4096) == 4096 and fp.context_for(100_000) == 8192
    assert fp.memory_bytes(1024, 2) == fp.file_bytes + fp.kv_bytes_per_cell * 2048


def test_refuses_files_that_are_not_gguf(tmp_path: Path) -> None:
    other = tmp_path / "x.gguf"
    other.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(GgufUnreadable, match="is not a GGUF file"):
        Footprint.read(other)
    truncated = tmp_path / "t.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(GgufUnreadable, match=r"llama\.cpp cannot load"):
        Footprint.read(truncated)
    with pytest.raises(GgufUnreadable, match="cannot read"):
        Footprint.read(tmp_path / "absent.gguf")
