"""A LoRA adapter as llama.cpp loads it: PEFT's matrices renamed, q/k rows permuted, one GGUF.

llama.cpp (``src/llama-adapter.cpp``) wants ``general.type = "adapter"``, the base model's
``general.architecture``, ``adapter.type = "lora"`` and ``adapter.lora.alpha`` as a FLOAT32 (any
other type aborts the whole process inside ``gguf_get_val_f32``), and tensors named
``<base tensor>.lora_a`` / ``.lora_b`` with numpy shapes (r, in) and (out, r), which are PEFT's
``lora_A.weight`` / ``lora_B.weight`` as they are. Its scale is ``alpha / r``, PEFT's too.

The one non-obvious step: llama.cpp keeps the q and k projections with their rows permuted for
its RoPE layout, while transformers un-permutes them when it loads a GGUF, so PEFT trains B in
transformers' row order. B of q and k must be permuted back (with the query head count for q and
the KV head count for k); A is untouched. Forgetting it fails silently (the text often looks
right); only the logits show it, which is what the tests compare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# transformers' module name -> llama.cpp's tensor name, per layer.
_TENSOR_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_PEFT_KEY = re.compile(r"(?:^|\.)layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])\.weight$")


class AdapterRejected(ValueError):
    """An adapter file that llama.cpp must not be given."""


def permute_rows(weight: np.ndarray, n_head: int) -> np.ndarray:
    """transformers' q/k row order -> llama.cpp's: per head, interleave the two rotary halves.
    ``weight`` is (n_head * head_dim, cols)."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


@dataclass(frozen=True, slots=True)
class LoraAdapter:
    """LoRA pairs keyed by llama.cpp tensor name (``blk.3.attn_q.weight``): (A, B), in
    llama.cpp's row order."""

    architecture: str
    alpha: float
    tensors: dict[str, tuple[np.ndarray, np.ndarray]]

    @classmethod
    def from_peft(
        cls,
        state: dict[str, np.ndarray],
        *,
        alpha: float,
        n_head: int,
        n_head_kv: int,
        architecture: str = "llama",
    ) -> LoraAdapter:
        """From PEFT's adapter state dict (``get_peft_model_state_dict``), as numpy arrays."""
        halves: dict[str, dict[str, np.ndarray]] = {}
        for key, value in state.items():
            match = _PEFT_KEY.search(key)
            if match is None or match.group(2) not in _TENSOR_NAMES:
                raise AdapterRejected(f"no llama.cpp tensor for the LoRA weight {key}")
            layer, module, half = match.groups()
            name = f"blk.{layer}.{_TENSOR_NAMES[module]}.weight"
            halves.setdefault(name, {})[half] = np.asarray(value, dtype=np.float32)
        tensors = {}
        for name, pair in halves.items():
            if set(pair) != {"A", "B"}:
                raise AdapterRejected(f"{name} has only lora_{''.join(pair)}")
            a, b = pair["A"], pair["B"]
            if ".attn_q." in name:
                b = permute_rows(b, n_head)
            elif ".attn_k." in name:
                b = permute_rows(b, n_head_kv)
            tensors[name] = (a, b)
        return cls(architecture, float(alpha), tensors)

    def write(self, path: Path) -> Path:
        """Write the adapter GGUF atomically (F32 tensors)."""
        import gguf

        tmp = path.with_name(f".{path.name}.tmp")
        writer = gguf.GGUFWriter(str(tmp), self.architecture)
        writer.add_string("general.type", "adapter")
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", self.alpha)
        for name in sorted(self.tensors):
            a, b = self.tensors[name]
            writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(a))
            writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(b))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        tmp.replace(path)
        return path

    @staticmethod
    def check(path: Path) -> None:
        """Refuse a file llama.cpp would abort on (alpha not FLOAT32) or reject (not a LoRA)."""
        import gguf

        reader = gguf.GGUFReader(str(path))
        fields = reader.fields

        def string(key: str) -> str | None:
            field = fields.get(key)
            return None if field is None else str(field.contents())

        if string("general.type") != "adapter" or string("adapter.type") != "lora":
            raise AdapterRejected(f"{path.name} is not a LoRA adapter GGUF")
        alpha = fields.get("adapter.lora.alpha")
        if alpha is not None and alpha.types != [gguf.GGUFValueType.FLOAT32]:
            raise AdapterRejected(f"{path.name}: adapter.lora.alpha must be FLOAT32")
