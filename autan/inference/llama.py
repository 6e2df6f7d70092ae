"""A thin wrapper over libllama (llama-cpp-python's low-level ctypes API).

``LlamaModel`` owns the weights and the vocabulary; ``LlamaContext`` owns one context with
``streams`` independent KV streams and one reusable ``llama_batch``.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import threading
from pathlib import Path
from typing import Any

import llama_cpp as L
import llguidance
import numpy as np

from autan.inference.model_info import ModelInfo
from autan.inference.sampling import Logits
from autan.inference.scheduler import BatchPlan

log = logging.getLogger("autan.llama")

_GGML_LOG_LEVEL_ERROR = 4
# libllama sizes a micro-batch's attention window in steps of this many KV cells.
_KV_PAD = 256
_backend_lock = threading.Lock()
_backend_ready = False
_log_callback: Any = None  # the ctypes callback must outlive every call into libllama
# llama_tokenize's C signature, pointers as addresses: what llguidance calls to tokenize text.
_TokenizeFn = ctypes.CFUNCTYPE(
    ctypes.c_int32,
    ctypes.c_void_p,  # vocab
    ctypes.c_void_p,  # text
    ctypes.c_int32,  # text length
    ctypes.c_void_p,  # tokens out
    ctypes.c_int32,  # tokens room
    ctypes.c_bool,  # add_special
    ctypes.c_bool,  # parse_special
)
# llguidance marks a special token's spelling with this byte: text never matches it.
_SPECIAL_MARK = b"\xff"


class LlamaError(RuntimeError):
    """libllama refused to load a model, create a context or decode a batch."""


def init_backend(*, verbose: bool) -> None:
    """Initialise libllama once per process; route its log to ours (errors only unless verbose)."""
    global _backend_ready, _log_callback
    with _backend_lock:
        if _backend_ready:
            return

        @L.llama_log_callback  # type: ignore[untyped-decorator]
        def _forward(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
            if verbose or level == _GGML_LOG_LEVEL_ERROR:
                msg = text.decode("utf-8", errors="replace").rstrip()
                if msg:
                    log.log(logging.ERROR if level == _GGML_LOG_LEVEL_ERROR else logging.DEBUG, msg)

        _log_callback = _forward
        L.llama_log_set(_log_callback, ctypes.c_void_p(0))
        L.llama_backend_init()
        _backend_ready = True


class LlamaModel:
    """Weights and vocabulary of one GGUF, shared by every context made from it."""

    def __init__(self, path: Path, *, verbose: bool = False, gpu_layers: int = 0) -> None:
        init_backend(verbose=verbose)
        params = L.llama_model_default_params()
        # -1: every layer (more layers than any model has, as llama-server -ngl 999).
        params.n_gpu_layers = 999 if gpu_layers < 0 else gpu_layers
        self._model = L.llama_model_load_from_file(str(path).encode(), params)
        if not self._model:
            raise LlamaError(f"could not load model from {path}")
        self._vocab = L.llama_model_get_vocab(self._model)
        self.n_vocab = int(L.llama_vocab_n_tokens(self._vocab))
        self._piece_cache: dict[int, bytes] = {}
        self.info = self._read_info(path)

    @property
    def handle(self) -> Any:
        return self._model

    def _description(self, llama_desc: str) -> str:
        """llama.cpp's "arch size ftype" with the size counted from the weights: its own size
        is a bucket of known models (SmolLM2-135M reads "256M")."""
        parts = llama_desc.split(" ", 2)
        if len(parts) < 2:
            return llama_desc
        params = int(L.llama_model_n_params(self._model))
        for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
            if params >= scale:
                parts[1] = f"{params / scale:.3g}{unit}"
                break
        return " ".join(parts)

    def _read_info(self, path: Path) -> ModelInfo:
        metadata = self._metadata()
        template = L.llama_model_chat_template(self._model, None)
        bos = int(L.llama_vocab_bos(self._vocab))
        eos = int(L.llama_vocab_eos(self._vocab))
        desc = ctypes.create_string_buffer(256)
        L.llama_model_desc(self._model, desc, len(desc))
        return ModelInfo(
            path=path,
            description=self._description(desc.value.decode("utf-8", errors="replace")),
            n_vocab=self.n_vocab,
            context_train=int(L.llama_model_n_ctx_train(self._model)),
            chat_template=template.decode("utf-8") if template else None,
            bos_text=self._piece(bos, special=True).decode("utf-8", "replace") if bos >= 0 else "",
            eos_text=self._piece(eos, special=True).decode("utf-8", "replace") if eos >= 0 else "",
            add_bos=bool(L.llama_vocab_get_add_bos(self._vocab)),
            metadata=metadata,
            bos=bos,
            fim=self._fim_tokens(),
        )

    def _fim_tokens(self) -> tuple[int, int, int] | None:
        ids = (
            int(L.llama_vocab_fim_pre(self._vocab)),
            int(L.llama_vocab_fim_mid(self._vocab)),
            int(L.llama_vocab_fim_suf(self._vocab)),
        )
        return ids if min(ids) >= 0 else None

    def _metadata(self) -> dict[str, str]:
        out: dict[str, str] = {}
        key = ctypes.create_string_buffer(256)
        val = ctypes.create_string_buffer(512)
        for i in range(int(L.llama_model_meta_count(self._model))):
            if L.llama_model_meta_key_by_index(self._model, i, key, len(key)) < 0:
                continue
            if L.llama_model_meta_val_str_by_index(self._model, i, val, len(val)) < 0:
                continue
            out[key.value.decode("utf-8", "replace")] = val.value.decode("utf-8", "replace")
        return out

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(self._vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (L.llama_token * cap)()
            n = L.llama_tokenize(self._vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            raise LlamaError(f"tokenization failed ({n})")
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for; control tokens render as nothing."""
        cached = self._piece_cache.get(token)
        if cached is None:
            cached = self._piece_cache[token] = self._piece(token, special=False)
        return cached

    def show_controls(self, tokens: list[int]) -> None:
        """Let these control tokens render as their text in replies, so that a reply parser
        sees markers such as ``[TOOL_CALLS]``."""
        for t in tokens:
            self._piece_cache[t] = self._piece(t, special=True)

    def special_piece(self, token: int) -> str:
        """A token's text with control tokens written out (``<s>``, ``[INST]``)."""
        return self._piece(token, special=True).decode("utf-8", "replace")

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def _piece(self, token: int, *, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = L.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = L.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[: max(n, 0)]

    def is_eog(self, token: int) -> bool:
        return bool(L.llama_vocab_is_eog(self._vocab, token))

    def grammar_tokenizer(self) -> llguidance.LLTokenizer:
        """llguidance's view of this vocabulary; a grammar's end is any end-of-generation token.

        Control tokens are special: a grammar names them by id (``<[3]>``) and its text
        literals are tokenized as text. User-defined tokens (Qwen's ``<tool_call>``) are text,
        as libllama has them: it reads their spelling in any text and writes it back out. Were
        a token both (a literal tokenized into it, its spelling marked special), llguidance
        would allow it and then refuse it.
        """
        eog = [t for t in range(self.n_vocab) if self.is_eog(t)]
        tokens = []
        for token in range(self.n_vocab):
            piece = self._piece(token, special=True)
            if int(L.llama_vocab_get_attr(self._vocab, token)) & L.LLAMA_TOKEN_ATTR_CONTROL:
                piece = _SPECIAL_MARK + piece
            tokens.append(piece)
        tokenizer: llguidance.LLTokenizer = llguidance.LLTokenizer.from_llamacpp(  # type: ignore[attr-defined]
            tokens=tokens,
            vocab_ptr=self._vocab,
            tokenize_fptr=ctypes.cast(_TOKENIZE_AS_TEXT, ctypes.c_void_p).value,
            eos_token=eog,
            slices=None,
        )
        return tokenizer

    def close(self) -> None:
        if self._model:
            L.llama_model_free(self._model)
            self._model = None


class LlamaContext:
    """One llama_context with ``streams`` KV streams of ``context`` cells each.

    Implements ``scheduler.DecodeBackend``. Not thread-safe: the engine thread owns it.
    """

    def __init__(
        self,
        model: LlamaModel,
        *,
        streams: int,
        context: int,
        batch_tokens: int,
        threads: int,
        adapter: Path | None = None,
    ) -> None:
        params = L.llama_context_default_params()
        params.n_ctx = streams * context
        params.n_batch = batch_tokens
        params.n_ubatch = batch_tokens
        params.n_seq_max = streams
        params.n_threads = threads
        params.n_threads_batch = threads
        params.kv_unified = False
        # Full-size sliding-window caches never drop old positions, so a kept prefix stays whole.
        params.swa_full = True
        params.no_perf = True
        self._ctx = L.llama_init_from_model(model.handle, params)
        if not self._ctx:
            raise LlamaError(
                f"could not create a context of {streams} x {context} cells; lower --parallel "
                f"or the context per sequence"
            )
        self._model = model
        if adapter is not None:
            self._apply_adapter(adapter)
        self._memory = L.llama_get_memory(self._ctx)
        self._batch = L.llama_batch_init(batch_tokens, 0, 1)
        self._batch_cap = batch_tokens
        self._index = [0] * batch_tokens  # plan row -> its row in the last llama_batch
        self.n_vocab = model.n_vocab
        self.streams = streams
        self.context = context

    def _apply_adapter(self, path: Path) -> None:
        """Apply a LoRA adapter GGUF at scale 1 to every sequence of this context. libllama
        frees the adapter with the model."""
        lora = L.llama_adapter_lora_init(self._model.handle, str(path).encode())
        if not lora:
            L.llama_free(self._ctx)
            self._ctx = None
            raise LlamaError(f"could not load the LoRA adapter {path}")
        adapters = (L.llama_adapter_lora_p_ctypes * 1)(lora)
        scales = (ctypes.c_float * 1)(1.0)
        if L.llama_set_adapters_lora(self._ctx, adapters, 1, scales) != 0:
            L.llama_free(self._ctx)
            self._ctx = None
            raise LlamaError(f"could not apply the LoRA adapter {path}")

    def decode(self, plan: BatchPlan) -> None:
        """Decode ``plan`` in as few passes over the weights as libllama allows.

        With one KV stream per slot, libllama cuts a batch into micro-batches that each hold
        a run of consecutive sequence ids, in batch order: eight decode tokens in the order
        3, 0, 1, 2, 5, 4, 7, 6 take four passes over the weights, in slot order one (on
        SmolLM2-135M with two threads, 55 to 73 ms a step against 36 to 40). So the rows go
        in slot order, and a lone free slot inside the run gets a pad token, written past
        its KV and removed after, instead of cutting the run in two. ``logits(row)`` still
        takes the plan's row numbers.
        """
        assert 0 < len(plan) <= self._batch_cap, f"batch of {len(plan)} exceeds {self._batch_cap}"
        pads = self._pads(plan) if len(plan) > 1 else {}
        # (slot, plan row or None for a pad); the sort is stable, so a slot's rows keep order
        entries = sorted(
            [*((slot, row) for row, slot in enumerate(plan.slots)), *((s, None) for s in pads)],
            key=lambda entry: entry[0],
        )
        tokens: list[int] = []
        positions: list[int] = []
        slots: list[int] = []
        logits: list[bool] = []
        for i, (slot, row) in enumerate(entries):
            slots.append(slot)
            if row is None:
                tokens.append(0)
                positions.append(pads[slot])
                logits.append(False)
            else:
                self._index[row] = i
                tokens.append(plan.tokens[row])
                positions.append(plan.positions[row])
                logits.append(plan.want_logits[row])
        try:
            self.decode_rows(tokens, positions, slots, logits)
        finally:
            for slot, pos in pads.items():
                L.llama_memory_seq_rm(self._memory, slot, pos, -1)

    def decode_rows(
        self, tokens: list[int], positions: list[int], slots: list[int], logits: list[bool]
    ) -> None:
        """One ``llama_decode`` of these rows exactly as given (``decode`` orders them)."""
        n = len(tokens)
        b = self._batch
        np.ctypeslib.as_array(b.token, shape=(n,))[:] = tokens
        np.ctypeslib.as_array(b.pos, shape=(n,))[:] = positions
        np.ctypeslib.as_array(b.n_seq_id, shape=(n,))[:] = 1
        np.ctypeslib.as_array(b.logits, shape=(n,))[:] = logits
        seq_id = b.seq_id
        for i, slot in enumerate(slots):
            seq_id[i][0] = slot
        b.n_tokens = n
        rc = L.llama_decode(self._ctx, b)
        if rc != 0:
            raise LlamaError(f"llama_decode returned {rc}")

    def _pads(self, plan: BatchPlan) -> dict[int, int]:
        """Free slots that take a pad token, with its position (just past their KV).

        Only a lone free slot between two busy ones is padded: on SmolLM2-135M with 2 threads
        a decode token costs about as much as the fixed part of a micro-batch (8 ms for one
        token alone, 40 for eight together), so one pad saves a micro-batch at a token's price
        and two pads cost more than the cut they mend (slots 0 and 5: 20 ms split, 28 padded).
        A slot whose KV reaches past every sequence in the plan is left alone: its cells would
        widen the attention of every row.
        """
        busy = sorted(set(plan.slots))
        room = self._batch_cap - len(plan)
        reach = _KV_PAD * (max(plan.positions) // _KV_PAD + 1)
        pads: dict[int, int] = {}
        for lo, hi in itertools.pairwise(busy):
            if hi - lo != 2 or len(pads) == room:
                continue
            pos = int(L.llama_memory_seq_pos_max(self._memory, lo + 1)) + 1
            if pos < reach and pos < self.context:
                pads[lo + 1] = pos
        return pads

    def logits(self, row: int) -> Logits:
        ptr = L.llama_get_logits_ith(self._ctx, self._index[row])
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def truncate(self, slot: int, keep: int) -> int:
        # A partial removal fails for recurrent models. A prefix is reusable only if its cells
        # start at position 0 (a pruned sliding-window cache would not).
        if (
            keep > 0
            and L.llama_memory_seq_rm(self._memory, slot, keep, -1)
            and L.llama_memory_seq_pos_min(self._memory, slot) == 0
        ):
            return keep
        L.llama_memory_seq_rm(self._memory, slot, -1, -1)
        return 0

    def copy(self, src: int, dst: int) -> None:
        """Copy the cells ``src`` uses, not its whole stream: across KV streams
        ``llama_memory_seq_cp`` copies every cell of the stream (and aborts on a partial
        range), a cost that grows with the context per sequence however short the prefix.
        The sequence state holds only the used cells' K and V rows."""
        state, size = self.save(src)
        if not size or not self._set_state(dst, state):
            # No room for the cells in one run (cannot happen in an emptied stream): the
            # whole-stream copy always works.
            log.warning("KV state copy from slot %d to %d failed; copying the stream", src, dst)
            L.llama_memory_seq_cp(self._memory, src, dst, -1, -1)

    def save(self, slot: int) -> tuple[object, int]:
        """The slot's KV cells (its sequence state) in host memory, and their size (0 if
        libllama could not write them)."""
        size = int(L.llama_state_seq_get_size(self._ctx, slot))
        state = (ctypes.c_uint8 * size)()
        if int(L.llama_state_seq_get_data(self._ctx, state, size, slot)) != size:
            return state, 0
        return state, size

    def load(self, slot: int, state: object) -> bool:
        """Load a state ``save`` gave into the slot; False if libllama refused (the slot is
        then empty)."""
        if self._set_state(slot, state):
            return True
        log.warning("loading a saved prompt into slot %d failed; decoding it cold", slot)
        return False

    def _set_state(self, slot: int, state: object) -> bool:
        """Empty the slot and make its cells ``state``'s; on failure the slot stays empty."""
        assert isinstance(state, ctypes.Array)
        L.llama_memory_seq_rm(self._memory, slot, -1, -1)
        if L.llama_state_seq_set_data(self._ctx, state, len(state), slot) == 0:
            L.llama_memory_seq_rm(self._memory, slot, -1, -1)
            return False
        return True

    def rollback(self, slot: int, keep: int) -> None:
        L.llama_memory_seq_rm(self._memory, slot, keep, -1)

    def is_eog(self, token: int) -> bool:
        return self._model.is_eog(token)

    def close(self) -> None:
        if self._ctx:
            L.llama_batch_free(self._batch)
            L.llama_free(self._ctx)
            self._ctx = None


_llama_tokenize = _TokenizeFn(("llama_tokenize", L.llama_cpp._lib))


def _tokenize_as_text(
    vocab: int | None,
    text: int | None,
    text_len: int,
    tokens: int | None,
    n_tokens_max: int,
    add_special: bool,
    parse_special: bool,
) -> int:
    """llama_tokenize that never reads control-token spellings in the text."""
    return int(_llama_tokenize(vocab, text, text_len, tokens, n_tokens_max, add_special, False))


# The C function pointer llguidance calls: kept alive at module level.
_TOKENIZE_AS_TEXT: Any = _TokenizeFn(_tokenize_as_text)
