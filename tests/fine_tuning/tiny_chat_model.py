"""A tiny random-weight llama GGUF with the packaged SmolLM2's tokenizer and chat template.

Its weights are noise, but its vocabulary, its ChatML template and every tensor layout are the
real model's, so the whole fine-tuning path runs on it in seconds: the GGUF read into
transformers, LoRA training, the adapter written for llama.cpp and served by the engine.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from autan.models.packaged import packaged_model_path

N_EMBD, N_LAYER, N_HEAD, N_HEAD_KV, N_FF = 64, 2, 4, 2, 128


def write_tiny_chat_gguf(path: Path, seed: int = 0) -> Path:
    reader = gguf.GGUFReader(str(packaged_model_path()))
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-smollm2")
    writer.add_context_length(2048)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_rope_freq_base(100000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    n_vocab = 0
    for name, field in reader.fields.items():
        if name.startswith("tokenizer."):
            sub = field.types[1] if len(field.types) > 1 else None
            writer.add_key_value(name, field.contents(), field.types[0], sub)
            if name == "tokenizer.ggml.tokens":
                n_vocab = len(field.data)
    writer.add_vocab_size(n_vocab)
    rng = np.random.default_rng(seed)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.1).astype(np.float32)

    head_dim = N_EMBD // N_HEAD
    writer.add_tensor("token_embd.weight", matrix(n_vocab, N_EMBD))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, np.float32))
    for i in range(N_LAYER):
        p = f"blk.{i}"
        writer.add_tensor(f"{p}.attn_norm.weight", np.ones(N_EMBD, np.float32))
        writer.add_tensor(f"{p}.ffn_norm.weight", np.ones(N_EMBD, np.float32))
        writer.add_tensor(f"{p}.attn_q.weight", matrix(N_HEAD * head_dim, N_EMBD))
        writer.add_tensor(f"{p}.attn_k.weight", matrix(N_HEAD_KV * head_dim, N_EMBD))
        writer.add_tensor(f"{p}.attn_v.weight", matrix(N_HEAD_KV * head_dim, N_EMBD))
        writer.add_tensor(f"{p}.attn_output.weight", matrix(N_EMBD, N_HEAD * head_dim))
        writer.add_tensor(f"{p}.ffn_gate.weight", matrix(N_FF, N_EMBD))
        writer.add_tensor(f"{p}.ffn_up.weight", matrix(N_FF, N_EMBD))
        writer.add_tensor(f"{p}.ffn_down.weight", matrix(N_EMBD, N_FF))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
