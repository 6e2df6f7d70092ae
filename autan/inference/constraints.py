"""Constrained decoding with llguidance: grammars compiled once, one matcher per sequence.

A ``Grammar`` is a compiled, validated llguidance grammar: immutable, shared by every sequence
that asks for it. A ``Constraint`` is one sequence's position in that grammar: before each sample
it gives the set of tokens the grammar allows next, after it consumes the token chosen. Grammar
errors are found at compile time, before any token is generated; a grammar that cannot be
enforced is refused (``GrammarError``), never run unconstrained.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import llguidance
import llguidance.numpy
import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]


class GrammarError(ValueError):
    """The grammar (or the JSON schema it came from) cannot be enforced; the message says why."""


@dataclass(frozen=True, slots=True)
class Grammar:
    """A grammar that compiled for this model's tokenizer: llguidance's serialized form."""

    source: str


class Grammars:
    """One model's grammar compiler: its llguidance tokenizer and a cache of compiled grammars.

    Compiling checks the grammar against the tokenizer (0.1 ms for a typical JSON schema);
    results are cached by source text, so a schema sent with every request compiles once.
    """

    def __init__(self, tokenizer: llguidance.LLTokenizer, n_vocab: int, *, cache_size: int = 256):
        self.tokenizer = tokenizer
        self.n_vocab = n_vocab
        self._cache: OrderedDict[str, Grammar | GrammarError] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.compiled = 0  # cache misses, for tests and stats

    def lark(self, text: str) -> Grammar:
        """Compile a Lark grammar (llguidance's dialect, with ``%json {...}`` for schemas)."""
        return self._compile(llguidance.LLMatcher.grammar_from_lark(text))

    def _compile(self, source: str) -> Grammar:
        with self._lock:
            hit = self._cache.get(source)
            if hit is not None:
                self._cache.move_to_end(source)
        if hit is None:
            is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(
                source, self.tokenizer
            )
            hit = GrammarError(_first_line(messages[0])) if is_error else Grammar(source)
            with self._lock:
                self.compiled += 1
                self._cache[source] = hit
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        if isinstance(hit, GrammarError):
            raise hit
        return hit

    def constraint(self, grammar: Grammar) -> Constraint:
        matcher = llguidance.LLMatcher(self.tokenizer, grammar.source, log_level=0)
        if matcher.is_error():  # validated at compile time; a resource limit can still trip
            raise GrammarError(_first_line(matcher.get_error()))
        return Constraint(matcher, self.n_vocab, (self.tokenizer.vocab_size + 31) // 32)


def _first_line(message: str) -> str:
    """llguidance errors carry a parser dump after the first line; clients need the first."""
    return message.strip().splitlines()[0] if message.strip() else "invalid grammar"


@dataclass(slots=True)
class Constraint:
    """One sequence's matcher and its token bitmask (32 tokens per int32 word)."""

    matcher: llguidance.LLMatcher
    n_vocab: int
    words: int  # mask width: llguidance sizes it by its tokenizer
    _bits: npt.NDArray[np.int32] = field(init=False)

    def __post_init__(self) -> None:
        self._bits = np.zeros((1, max(self.words, (self.n_vocab + 31) // 32)), dtype=np.int32)

    def allowed(self) -> Mask:
        """Tokens the grammar allows next, as a boolean row of ``n_vocab`` entries."""
        llguidance.numpy.fill_next_token_bitmask(self.matcher, self._bits, 0)
        bits = np.unpackbits(self._bits.view(np.uint8), bitorder="little", count=self.n_vocab)
        return bits.view(np.bool_)

    def consume(self, token: int) -> bool:
        """Advance past ``token``; False when the grammar rejects it (the matcher is spent)."""
        return bool(self.matcher.consume_token(token))

    @property
    def done(self) -> bool:
        """The grammar is complete and allows nothing more: generation ends here."""
        return bool(self.matcher.is_stopped())

    @property
    def error(self) -> str | None:
        return _first_line(self.matcher.get_error()) if self.matcher.is_error() else None
