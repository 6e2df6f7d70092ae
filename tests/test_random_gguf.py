"""The tiny Mistral-family GGUFs load, carry the architecture asked for, and generate."""

import asyncio
import hashlib
from pathlib import Path

import pytest

from autan.inference.engine import LocalEngine
from autan.inference.llama import LlamaModel
from autan.inference.sampling import SamplingParams
from autan.settings import EngineSettings
from tests.random_gguf import RandomGGUF


def test_same_spec_and_seed_give_the_same_bytes(tmp_path: Path) -> None:
    a = RandomGGUF(seed=7).write(tmp_path / "a.gguf")
    b = RandomGGUF(seed=7).write(tmp_path / "b.gguf")
    c = RandomGGUF(seed=8).write(tmp_path / "c.gguf")
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b, c)]
    assert digest[0] == digest[1]
    assert digest[0] != digest[2]
    assert RandomGGUF(seed=7).digest() != RandomGGUF(seed=8).digest()


def test_cached_builds_once(tmp_path: Path) -> None:
    first = RandomGGUF(seed=3).cached(tmp_path)
    mtime = first.stat().st_mtime_ns
    again = RandomGGUF(seed=3).cached(tmp_path)
    assert again == first and again.stat().st_mtime_ns == mtime


def test_dense_model_has_grouped_query_attention(dense_v3: Path) -> None:
    model = LlamaModel(dense_v3)
    meta = model.info.metadata
    assert meta["general.architecture"] == "llama"
    assert (meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]) == ("4", "2")
    assert "llama.expert_count" not in meta
    assert model.n_vocab == 32768
    assert model.special_piece(3) == "[INST]" and model.special_piece(5) == "[TOOL_CALLS]"
    model.close()


def test_mixtral_model_routes_to_two_of_eight_experts(mixtral_v3: Path) -> None:
    model = LlamaModel(mixtral_v3)
    meta = model.info.metadata
    assert (meta["llama.expert_count"], meta["llama.expert_used_count"]) == ("8", "2")
    model.close()


def test_codestral_model_declares_fim_tokens(codestral_tekken: Path) -> None:
    model = LlamaModel(codestral_tekken)
    assert model.n_vocab == 131072
    assert model.info.metadata["tokenizer.ggml.pre"] == "tekken"
    assert model.info.fim == (14, 15, 16)  # [PREFIX], [MIDDLE], [SUFFIX] in Tekken
    model.close()


@pytest.mark.parametrize("fixture", ["dense_v3", "mixtral_v3", "codestral_tekken"])
def test_generates_through_the_engine_deterministically(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(fixture)
    settings = EngineSettings(parallel=2, context_per_sequence=256, batch_tokens=64, threads=1)
    engine = LocalEngine.load(LlamaModel(path), settings)
    try:
        prompt = [1, 3, 1500, 1600, 4]  # <s>[INST] two words [/INST]
        params = SamplingParams(max_tokens=8, temperature=0.0)

        async def run() -> tuple[str, int]:
            outs = [out async for _, out in engine.generate(prompt, [params])]
            return "".join(o.text for o in outs), outs[-1].completion_tokens

        runs = [asyncio.run(run()) for _ in range(2)]
        assert runs[0] == runs[1]
        assert 1 <= runs[0][1] <= 8
    finally:
        engine.close()
