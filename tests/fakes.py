"""Fakes at the expensive edge only: a byte-level vocabulary and a decode backend whose
"model" replies with a fixed script, so the real scheduler, engine and API run in milliseconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llguidance
import numpy as np

from autan.chat.formats import ModelFormats
from autan.inference.engine import LocalEngine
from autan.inference.model_info import ModelInfo
from autan.inference.sampling import Logits
from autan.inference.scheduler import BatchPlan
from autan.models.card import ModelCard
from autan.models.registry import LoadPlan, ModelRegistry, ServedModel
from autan.settings import EngineSettings

EOG = 0
N_VOCAB = 256
TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


class ByteVocabulary:
    """Token i is byte i; token 0 ends generation."""

    def __init__(self, *, fim: tuple[int, int, int] | None = None) -> None:
        self.info = ModelInfo(
            path=Path("fake.gguf"),
            description="fake byte model",
            n_vocab=N_VOCAB,
            context_train=0,
            chat_template=TEMPLATE,
            bos_text="",
            eos_text="",
            add_bos=False,
            metadata={},
            fim=fim,
        )

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        return list(text.encode("utf-8"))

    def piece(self, token: int) -> bytes:
        return b"" if token == EOG else bytes([token])

    def grammar_tokenizer(self) -> llguidance.LLTokenizer:
        return llguidance.LLTokenizer(llguidance.TokenizerWrapper(_ByteTokenizer()))

    def close(self) -> None:
        pass


class _ByteTokenizer:
    """The byte vocabulary in the shape ``llguidance.TokenizerWrapper`` reads."""

    def __init__(self) -> None:
        self.eos_token_id = EOG
        self.bos_token_id = None
        self.special_token_ids = [EOG]
        self.tokens = [b"<eog>"] + [bytes([i]) for i in range(1, N_VOCAB)]

    def __call__(self, text: str | bytes) -> list[int]:
        return list(text.encode("utf-8") if isinstance(text, str) else text)


class ScriptBackend:
    """Every sequence's "model" spells ``script`` and then ends (token 0).

    The backend keeps what each slot's KV holds, token by position, and refuses a batch whose
    positions do not continue a slot's KV (as ``llama_decode`` does), so a scheduler that
    believes the KV holds more, or less, than it does fails loudly. ``prefilled`` counts the
    prompt tokens decoded per slot.

    The output index of a row is how far its position lies past the slot's first logits row
    since the slot was (re)assigned, which is what ``truncate`` marks: the script is spelled
    by position, so output tokens a grammar forces (decoded in one chunk) skip their share of
    it. A prompt the prefix cache reuses whole (kept, copied or loaded with the position of its
    last token, and next decoded from just past it, starting with the script's first byte)
    goes on from there: its first byte came from the logits the cache kept. (A new prompt that
    extends the last one by text starting with that byte reads the same way: tests avoid it.)
    Logits put ``margin`` on the scripted byte over a flat floor, so sampling at
    temperature > 0 mostly follows the script. ``decode_delay`` slows steps down for tests
    that need requests to overlap.
    """

    def __init__(self, script: bytes, *, margin: float = 30.0, decode_delay: float = 0.0) -> None:
        self.script = script
        self.margin = margin
        self.decode_delay = decode_delay
        self.n_vocab = N_VOCAB
        self.decoded_tokens = 0
        self.batch_sizes: list[int] = []
        self.batch_slots: list[list[int]] = []  # the slots of each decode's rows, in order
        self.truncations: list[tuple[int, int]] = []
        self.copies: list[tuple[int, int]] = []
        self.saves: list[int] = []
        self.loads: list[int] = []
        self.rollbacks: list[tuple[int, int]] = []
        self.kv: dict[int, list[int]] = {}
        self._emitted: dict[int, int] = {}  # slot -> position of its first logits row
        self._ends: dict[int, int] = {}  # slot -> position of its KV's last prompt token
        self._rows: dict[int, int] = {}  # batch index -> output index, for the last decode

    def decode(self, plan: BatchPlan) -> None:
        if self.decode_delay:
            time.sleep(self.decode_delay)
        ahead: dict[int, int] = {}
        for slot, pos in zip(plan.slots, plan.positions, strict=True):
            expected = len(self.kv.get(slot, [])) + ahead.get(slot, 0)
            if pos != expected:
                raise RuntimeError(f"slot {slot}: position {pos} does not follow {expected - 1}")
            ahead[slot] = ahead.get(slot, 0) + 1
        self.decoded_tokens += len(plan)
        self.batch_sizes.append(len(plan))
        self.batch_slots.append(list(plan.slots))
        self._rows = {}
        starts = {slot: len(self.kv.get(slot, [])) for slot in plan.slots}
        firsts: dict[int, int] = {}
        for slot, token in zip(plan.slots, plan.tokens, strict=True):
            firsts.setdefault(slot, token)
        for i, (slot, token, pos, want) in enumerate(
            zip(plan.slots, plan.tokens, plan.positions, plan.want_logits, strict=True)
        ):
            self.kv.setdefault(slot, []).append(token)
            if want:
                if slot not in self._emitted:
                    end = self._ends.get(slot)
                    whole = end is not None and starts[slot] == end + 1
                    if whole and self.script[:1] == bytes([firsts[slot]]):
                        self._emitted[slot] = end  # a prompt reused whole: its output goes on
                    else:
                        self._emitted[slot] = self._ends[slot] = pos
                self._rows[i] = pos - self._emitted[slot]

    def logits(self, row: int) -> Logits:
        i = self._rows[row]
        out = np.zeros(N_VOCAB, dtype=np.float32)
        out[self.script[i] if i < len(self.script) else EOG] = self.margin
        return out

    def truncate(self, slot: int, keep: int) -> int:
        self.truncations.append((slot, keep))
        self.kv[slot] = self.kv.get(slot, [])[:keep]
        self._emitted.pop(slot, None)
        if self._ends.get(slot, keep) + 1 != keep:
            self._ends.pop(slot, None)
        return len(self.kv[slot])

    def copy(self, src: int, dst: int) -> None:
        self.copies.append((src, dst))
        self.kv[dst] = list(self.kv.get(src, []))
        self._set_end(dst, self._ends.get(src))

    def save(self, slot: int) -> tuple[object, int]:
        self.saves.append(slot)
        kv = list(self.kv.get(slot, []))
        return (kv, self._ends.get(slot)), 100 * len(kv)

    def load(self, slot: int, state: object) -> bool:
        assert isinstance(state, tuple)
        kv, end = state
        self.loads.append(slot)
        self.kv[slot] = list(kv)
        self._set_end(slot, end)
        return True

    def _set_end(self, slot: int, end: int | None) -> None:
        self._emitted.pop(slot, None)
        if end is None:
            self._ends.pop(slot, None)
        else:
            self._ends[slot] = end

    def rollback(self, slot: int, keep: int) -> None:
        """Drops the draft rows the scheduler did not take: the script is spelled by position,
        so the next decode at those positions reads the same script bytes again."""
        dropped = len(self.kv[slot]) - keep
        assert dropped > 0, f"slot {slot}: rollback to {keep} drops nothing"
        self.rollbacks.append((slot, keep))
        del self.kv[slot][keep:]

    def is_eog(self, token: int) -> bool:
        return token == EOG

    def close(self) -> None:
        pass


class ContextBackend(ScriptBackend):
    """A "model" whose next token depends on every token in the slot's KV: a digest of the
    context picks a printable byte. A KV that differs from the sequence's real tokens by one
    cell changes the output, as it would with real weights."""

    def __init__(self, **kwargs: float) -> None:
        super().__init__(b"", **kwargs)
        self._digests: dict[int, int] = {}  # batch index -> digest of the context up to it

    def decode(self, plan: BatchPlan) -> None:
        super().decode(plan)
        self._digests = {}
        for i, (slot, pos) in enumerate(zip(plan.slots, plan.positions, strict=True)):
            if plan.want_logits[i]:
                self._digests[i] = _digest(self.kv[slot][: pos + 1])

    def logits(self, row: int) -> Logits:
        out = np.zeros(N_VOCAB, dtype=np.float32)
        out[32 + self._digests[row] % 95] = self.margin
        return out


def _digest(tokens: list[int]) -> int:
    h = 0
    for t in tokens:
        h = (h * 1_000_003 + t) % 2_147_483_647
    return h


def fake_engine(
    script: bytes = b"Hello from autan!",
    *,
    parallel: int = 4,
    context: int = 512,
    decode_delay: float = 0.0,
    max_waiting: int = 64,
    fim: tuple[int, int, int] | None = None,
) -> tuple[LocalEngine, ScriptBackend]:
    backend = ScriptBackend(script, decode_delay=decode_delay)
    settings = EngineSettings(
        parallel=parallel,
        context_per_sequence=context,
        batch_tokens=64,
        threads=1,
        max_waiting=max_waiting,
    )
    return LocalEngine(ByteVocabulary(fim=fim), backend, settings, context), backend


class FakeLoader:
    """Loads cards into fake engines, each costing ``memory_bytes``; records loads in order.

    ``load_delay`` keeps a load in progress long enough for requests to pile up behind it.
    """

    def __init__(
        self,
        make_engine: Callable[[ModelCard], LocalEngine] | None = None,
        *,
        memory_bytes: int = 100,
        load_delay: float = 0.0,
    ) -> None:
        self._make_engine = make_engine or (lambda card: fake_engine(card.id.encode())[0])
        self.memory_bytes = memory_bytes
        self.load_delay = load_delay
        self.loads: list[str] = []
        self.closed: list[str] = []
        self.loaded_in_threads: set[str] = set()

    def plan(self, card: ModelCard) -> LoadPlan:
        return LoadPlan(
            context=card.context_length or 512,
            memory_bytes=self.memory_bytes,
            description=f"fake {card.id}",
        )

    def load(self, card: ModelCard, plan: LoadPlan) -> ServedModel:
        self.loaded_in_threads.add(threading.current_thread().name)
        time.sleep(self.load_delay)
        self.loads.append(card.id)
        engine = self._make_engine(card)
        close = engine.close

        def close_and_record() -> None:
            self.closed.append(card.id)
            close()

        engine.close = close_and_record  # type: ignore[method-assign]
        return served_model(card.id, engine, aliases=list(card.aliases))


def served_model(model_id: str, engine: LocalEngine, **fields: Any) -> ServedModel:
    """A loaded model as ``LocalLoader`` makes it: its formats built for ``engine``."""
    return ServedModel(
        id=model_id, engine=engine, formats=ModelFormats.for_model(engine, None), **fields
    )


def fake_card(model_id: str, *aliases: str, **fields: object) -> ModelCard:
    return ModelCard.model_validate(
        {"id": model_id, "aliases": aliases, "path": Path(f"{model_id}.gguf"), **fields}
    )


def fake_registry(engine: LocalEngine) -> ModelRegistry:
    """One model, ``fake-model`` alias ``mistral-small-latest``, served by ``engine``."""
    return ModelRegistry(
        [fake_card("fake-model", "mistral-small-latest", preload=True)],
        FakeLoader(lambda card: engine),
        max_loaded_memory=1 << 30,
    )
