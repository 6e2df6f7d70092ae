"""A GGUF's weights as a float transformers model, dequantized once and cached.

transformers reads a GGUF (with the ``gguf`` package) into an exact float ``LlamaForCausalLM``
and rebuilds its tokenizer and chat template, but slowly: about 22 s for SmolLM2-135M on two
cores, of which 7 s build the BPE tokenizer. The result is saved once per GGUF (keyed by its
path, size and modification time) and reloaded from safetensors in under a second.

Saving needs the GGUF "quantizer" detached: transformers refuses to serialize a model it loaded
from a GGUF until both ``config.quantization_config`` and ``hf_quantizer`` are gone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def cache_key(gguf: Path) -> str:
    stat = gguf.stat()
    ident = f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


@dataclass(slots=True)
class DequantizedModel:
    model: Any  # transformers.PreTrainedModel, float32
    tokenizer: Any  # transformers.PreTrainedTokenizerFast, with the GGUF's chat template

    @classmethod
    def load(cls, gguf: Path, cache_dir: Path) -> DequantizedModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cached = cache_dir / f"{gguf.stem}-{cache_key(gguf)}"
        if not (cached / "config.json").is_file():
            log.info("dequantizing %s into %s (once per file)", gguf.name, cached)
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.hf_quantizer = None  # type: ignore[assignment]
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            if cached.exists():  # another trainer got there first
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.replace(cached)
        model = AutoModelForCausalLM.from_pretrained(str(cached), dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(cached))
        if not tokenizer.chat_template:
            raise ValueError(
                f"{gguf.name} has no chat template: its conversations cannot be rendered for "
                "training"
            )
        return cls(model, tokenizer)
