"""Tiny random-weight GGUFs of the Mistral family, with the real tokenizers mistral-common ships.

They prove the Mistral code paths (GQA, mixture of experts, ``[INST]``/``[TOOL_CALLS]``/FIM
tokens) end to end without downloading weights. The weights are noise, so the text is nonsense,
but every prompt token, every control token and every decode step is the real thing. The same
spec and seed always give the same bytes, so a test can build a file once and cache it.

Layout notes (llama.cpp, as vendored by llama-cpp-python 0.3.36):
- Mistral dense and Mixtral both use the ``llama`` architecture; Mixtral adds expert counts and
  stacked ``*_exps`` tensors. The sliding-window key is written but llama.cpp ignores it.
- ``output.weight`` is left out: llama.cpp then ties it to ``token_embd``, halving the file.
- Control tokens must be typed CONTROL, or ``[INST]`` is split into plain text pieces.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from autan.models.mistral_tokenizer import MistralTokenizer

# Bump when the bytes written for a given spec change, so cached files are rebuilt.
BUILDER_VERSION = 1


@dataclass(frozen=True, slots=True)
class RandomGGUF:
    """What to build: a tokenizer, dense or mixture of experts, FIM tokens or not, and a seed."""

    tokenizer: str = "v3"  # a packaged name (mistral_tokenizer.PACKAGED) or a file
    experts: int = 0  # 0: dense Mistral; 8: Mixtral (top-2 routing)
    experts_used: int = 2
    fim: bool = False  # Codestral-style: declare the [PREFIX]/[SUFFIX]/[MIDDLE] ids
    seed: int = 0
    name: str = ""
    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_head_kv: int = 2  # grouped-query attention: 2 query heads per KV head
    n_ff: int = 128
    context_length: int = 32768
    sliding_window: int = 4096

    @property
    def title(self) -> str:
        if self.name:
            return self.name
        family = "mixtral" if self.experts else ("codestral" if self.fim else "mistral")
        return f"tiny-{family}-{self.tokenizer}"

    def digest(self) -> str:
        """A key for caches: changes with the spec, the builder and the tokenizer file."""
        h = hashlib.sha256(repr((BUILDER_VERSION, sorted(asdict(self).items()))).encode())
        h.update(MistralTokenizer.path_of(self.tokenizer).read_bytes())
        return h.hexdigest()[:16]

    def write(self, path: Path) -> Path:
        """Write the GGUF to ``path`` (atomically: a reader never sees half a file)."""
        import gguf
        from gguf.vocab import MistralVocab

        vocab = _vocab(self.tokenizer, MistralVocab)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        writer = gguf.GGUFWriter(str(tmp), "llama")
        self._write_header(writer, vocab, gguf)
        self._write_tensors(writer, vocab.vocab_size, gguf)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        tmp.replace(path)
        return path

    def cached(self, directory: Path) -> Path:
        """The file for this spec in ``directory``, built the first time it is asked for."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.title}-{self.digest()}.gguf"
        return path if path.exists() else self.write(path)

    def _write_header(self, w, vocab, gguf) -> None:  # type: ignore[no-untyped-def]
        w.add_name(self.title)
        w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        w.add_context_length(self.context_length)
        w.add_embedding_length(self.n_embd)
        w.add_block_count(self.n_layer)
        w.add_feed_forward_length(self.n_ff)
        w.add_head_count(self.n_head)
        w.add_head_count_kv(self.n_head_kv)
        w.add_rope_dimension_count(self.n_embd // self.n_head)
        w.add_rope_freq_base(1e6)
        w.add_layer_norm_rms_eps(1e-5)  # required: the llama loader has no default for it
        w.add_vocab_size(vocab.vocab_size)
        w.add_sliding_window(self.sliding_window)
        if self.experts:
            w.add_expert_count(self.experts)
            w.add_expert_used_count(self.experts_used)

        tokens, scores, types = [], [], []
        for text, score, kind in vocab.all_tokens():
            tokens.append(text)
            scores.append(score)
            types.append(kind)
        w.add_tokenizer_model(vocab.gguf_tokenizer_model)
        if vocab.gguf_tokenizer_model == "gpt2":
            w.add_tokenizer_pre("tekken")
            w.add_token_merges(vocab.extract_vocab_merges_from_model())
        else:
            # mistral-common encodes the FIM suffix without SentencePiece's dummy prefix, so
            # the vocabulary must not add one on its own (prompts are built as ids anyway).
            w.add_add_space_prefix(False)
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(vocab.bos_id)
        w.add_eos_token_id(vocab.eos_id)
        w.add_unk_token_id(vocab.unk_id)
        w.add_pad_token_id(vocab.pad_id)
        w.add_add_bos_token(True)
        w.add_add_eos_token(False)
        if self.fim:
            ids = MistralTokenizer.load(self.tokenizer).fim_ids()
            if ids is None:
                raise ValueError(f"tokenizer {self.tokenizer!r} has no FIM tokens")
            prefix, middle, suffix = ids
            w.add_uint32("tokenizer.ggml.fim_pre_token_id", prefix)
            w.add_uint32("tokenizer.ggml.fim_mid_token_id", middle)
            w.add_uint32("tokenizer.ggml.fim_suf_token_id", suffix)
        # Only the template's name, as llama.cpp's converter writes for Mistral tokenizers:
        # prompts for these models are built by mistral-common, never by a Jinja template.
        w.add_chat_template(MistralTokenizer.load(self.tokenizer).template_name)

    def _write_tensors(self, w, n_vocab: int, gguf) -> None:  # type: ignore[no-untyped-def]
        rng = np.random.default_rng(self.seed)
        head_dim = self.n_embd // self.n_head
        q, kv = self.n_head * head_dim, self.n_head_kv * head_dim

        def matrix(rows: int, cols: int) -> np.ndarray:
            return (rng.standard_normal((rows, cols)) * 0.2).astype(np.float32)

        # numpy shapes are ggml's reversed: (n_vocab, n_embd) is ne = [n_embd, n_vocab].
        embd = rng.standard_normal((n_vocab, self.n_embd)).astype(np.float16)
        w.add_tensor("token_embd.weight", embd)
        w.add_tensor("output_norm.weight", np.ones(self.n_embd, np.float32))
        for i in range(self.n_layer):
            p = f"blk.{i}"
            w.add_tensor(f"{p}.attn_norm.weight", np.ones(self.n_embd, np.float32))
            w.add_tensor(f"{p}.ffn_norm.weight", np.ones(self.n_embd, np.float32))
            w.add_tensor(f"{p}.attn_q.weight", matrix(q, self.n_embd))
            w.add_tensor(f"{p}.attn_k.weight", matrix(kv, self.n_embd))
            w.add_tensor(f"{p}.attn_v.weight", matrix(kv, self.n_embd))
            w.add_tensor(f"{p}.attn_output.weight", matrix(self.n_embd, q))
            if not self.experts:
                w.add_tensor(f"{p}.ffn_gate.weight", matrix(self.n_ff, self.n_embd))
                w.add_tensor(f"{p}.ffn_up.weight", matrix(self.n_ff, self.n_embd))
                w.add_tensor(f"{p}.ffn_down.weight", matrix(self.n_embd, self.n_ff))
                continue
            e = self.experts

            def stacked(rows: int, cols: int, e: int = e) -> np.ndarray:
                return (rng.standard_normal((e, rows, cols)) * 0.2).astype(np.float32)

            w.add_tensor(f"{p}.ffn_gate_inp.weight", matrix(e, self.n_embd))
            w.add_tensor(f"{p}.ffn_gate_exps.weight", stacked(self.n_ff, self.n_embd))
            w.add_tensor(f"{p}.ffn_up_exps.weight", stacked(self.n_ff, self.n_embd))
            w.add_tensor(f"{p}.ffn_down_exps.weight", stacked(self.n_embd, self.n_ff))


def _vocab(name: str, vocab_class):  # type: ignore[no-untyped-def]
    """gguf's MistralVocab reads a directory; give it one holding just the packaged file."""
    import tempfile

    source = MistralTokenizer.path_of(name)
    canonical = "tekken.json" if source.suffix == ".json" else source.name
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / canonical
        link.symlink_to(source)
        return vocab_class(Path(tmp))
