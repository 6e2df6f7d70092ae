"""The adapter writer, checked the only way that catches a wrong q/k permutation: llama.cpp's
logits with the adapter against PyTorch + PEFT's, on a model whose weights are exact (F32)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gguf
import numpy as np
import pytest

from autan.fine_tuning.dequantized_model import DequantizedModel
from autan.fine_tuning.lora_adapter import AdapterRejected, LoraAdapter, permute_rows
from autan.fine_tuning.trainer import LORA_MODULES
from autan.inference.llama import LlamaContext, LlamaModel
from autan.inference.scheduler import BatchPlan

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

# peft 0.21 still calls a transformers 5 method that warns it is deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")

PROMPT = "<|im_start|>user\nWhat is the capital of Portugal?<|im_end|>\n<|im_start|>assistant\n"


def _llama_logits(gguf_path: Path, adapter: Path | None, ids: list[int]) -> np.ndarray:
    model = LlamaModel(gguf_path)
    try:
        ctx = LlamaContext(
            model, streams=1, context=256, batch_tokens=256, threads=2, adapter=adapter
        )
        n = len(ids)
        ctx.decode(BatchPlan(ids, list(range(n)), [0] * n, [True] * n))
        rows = np.stack([np.array(ctx.logits(i)) for i in range(n)])
        ctx.close()
        return rows
    finally:
        model.close()


@pytest.fixture(scope="module")
def lora_and_logits(
    tiny_chat_gguf: Path, model_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[int]]:
    torch.manual_seed(0)
    base = DequantizedModel.load(tiny_chat_gguf, model_cache)
    ids = base.tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    model = peft.get_peft_model(
        base.model,
        peft.LoraConfig(r=4, lora_alpha=8, target_modules=LORA_MODULES, task_type="CAUSAL_LM"),
    )
    with torch.no_grad():  # an adapter far from zero, so a wrong layout cannot hide
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn_like(p) * 0.3)
        with_lora = model(input_ids=torch.tensor([ids])).logits[0].numpy()
        with model.disable_adapter():
            without = model(input_ids=torch.tensor([ids])).logits[0].numpy()
    state = {k: v.detach().numpy() for k, v in peft.get_peft_model_state_dict(model).items()}
    return state, with_lora, without, ids


def test_base_model_logits_match_pytorch(tiny_chat_gguf: Path, lora_and_logits) -> None:  # type: ignore[no-untyped-def]
    _, _, without, ids = lora_and_logits
    got = _llama_logits(tiny_chat_gguf, None, ids)
    assert np.abs(got - without).mean() < 5e-3  # measured 4e-4: float32 on both sides


def test_adapter_logits_match_pytorch_and_need_the_qk_permutation(
    tiny_chat_gguf: Path,
    lora_and_logits,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    state, with_lora, without, ids = lora_and_logits
    adapter = LoraAdapter.from_peft(state, alpha=8, n_head=4, n_head_kv=2)
    path = adapter.write(tmp_path / "adapter.gguf")
    LoraAdapter.check(path)
    got = _llama_logits(tiny_chat_gguf, path, ids)
    good = float(np.abs(got - with_lora).mean())
    assert good < 5e-3  # measured 1e-3; without the permutation, 0.5
    assert float(np.abs(without - with_lora).mean()) > 100 * good  # the adapter matters

    # The same adapter with q/k B left in transformers' order: llama.cpp loads it without a
    # word, and its logits are wrong.
    unpermuted = dict(adapter.tensors)
    for name, (a, b) in adapter.tensors.items():
        if ".attn_q." in name:
            unpermuted[name] = (a, _unpermute(b, 4))
        elif ".attn_k." in name:
            unpermuted[name] = (a, _unpermute(b, 2))
    wrong = dataclasses.replace(adapter, tensors=unpermuted).write(tmp_path / "wrong.gguf")
    assert float(np.abs(_llama_logits(tiny_chat_gguf, wrong, ids) - with_lora).mean()) > 10 * good


def _unpermute(b: np.ndarray, n_head: int) -> np.ndarray:
    rows = b.shape[0]
    return b.reshape(n_head, rows // n_head // 2, 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


def test_permutation_round_trips() -> None:
    b = np.arange(16 * 3, dtype=np.float32).reshape(16, 3)
    assert np.array_equal(_unpermute(permute_rows(b, 2), 2), b)
    assert not np.array_equal(permute_rows(b, 2), b)


def test_an_alpha_that_is_not_float32_is_refused(tmp_path: Path) -> None:
    # llama.cpp reads alpha with gguf_get_val_f32 and aborts the process on any other type.
    path = tmp_path / "bad.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_uint32("adapter.lora.alpha", 16)
    writer.add_tensor("blk.0.attn_v.weight.lora_a", np.zeros((4, 64), np.float32))
    writer.add_tensor("blk.0.attn_v.weight.lora_b", np.zeros((32, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(AdapterRejected, match="FLOAT32"):
        LoraAdapter.check(path)


def test_unknown_lora_weights_are_refused() -> None:
    with pytest.raises(AdapterRejected):
        LoraAdapter.from_peft(
            {"base_model.model.lm_head.lora_A.weight": np.zeros((4, 64))},
            alpha=8,
            n_head=4,
            n_head_kv=2,
        )
