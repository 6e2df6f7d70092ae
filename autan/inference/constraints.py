"""Constrained decoding with llguidance: grammars compiled once, one matcher per sequence.

A ``Grammar`` is a compiled, validated llguidance grammar: immutable, shared by every sequence
that asks for it. A ``Constraint`` is one sequence's position in that grammar: before each sample
it gives the set of tokens the grammar allows next, after it consumes the token chosen. Grammar
errors are found at compile time, before any token is generated; a grammar that cannot be
enforced is refused (``GrammarError``), never run unconstrained.

A reply must end complete even when its token budget runs out, so a ``Constraint`` can also
find a short way to complete the grammar from where it stands (``closing``): a greedy walk on
a copy of its matcher that takes the tokens the grammar forces and otherwise prefers tokens
that close a string, an object or an array.
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
        self._closing: dict[str, list[int] | None] = {}  # by grammar source
        self._preferred = _closing_preference(tokenizer)

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
        words = (self.tokenizer.vocab_size + 31) // 32
        return Constraint(matcher, self.n_vocab, words, self._preferred)

    def shortest(self, grammar: Grammar) -> list[int] | None:
        """A short complete reply under ``grammar`` (``Constraint.closing`` from its start),
        None when none was found within ``MAX_CLOSING`` tokens. Cached by grammar."""
        with self._lock:
            if grammar.source in self._closing:
                return self._closing[grammar.source]
        path = self.constraint(grammar).closing(MAX_CLOSING)
        with self._lock:
            if len(self._closing) >= self._cache_size:
                self._closing.pop(next(iter(self._closing)))
            self._closing[grammar.source] = path
        return path


def _first_line(message: str) -> str:
    """llguidance errors carry a parser dump after the first line; clients need the first."""
    return message.strip().splitlines()[0] if message.strip() else "invalid grammar"


# The longest completion a closing walk looks for; a grammar that needs more is refused only
# by the budget check, never walked further.
MAX_CLOSING = 4096

# Single characters the closing walk tries, in this order, where the grammar forces nothing
# and no closing token is allowed: separators first (a required key or item still missing),
# then characters that end a format's part (e-mail, date, time, address), then fillers. The
# same separator twice in a row is skipped, so that a walk through "a.b.c" makes progress.
_SEPARATORS = [",", "@", ".", "-", ":", "T", "Z", "+"]
_FILLERS = ["a", "0", "1", "A", "n", "t"]  # "a" first: a string allows it, nothing else
_FILL_RUN = 4
_WORDS = 64


def _closing_preference(tokenizer: llguidance.LLTokenizer) -> _Preference:
    """Token ids for the closing walk: the tokens that only close (brackets, a quote then
    brackets), longest first, the shortest strings, and the single-character separators and
    fillers."""
    brackets: list[tuple[int, int]] = []
    quotes: list[tuple[int, int]] = []
    words: list[tuple[int, int]] = []
    for token in range(tokenizer.vocab_size):
        if tokenizer.is_special_token(token):
            continue
        piece = tokenizer.decode_bytes([token])
        if piece and all(c in b"}]" for c in piece):
            brackets.append((-len(piece), token))
        elif piece.startswith(b'"') and all(c in b"}]" for c in piece[1:]):
            quotes.append((-len(piece), token))
        elif len(piece) >= 4 and piece.isascii() and piece.isalpha():
            words.append((-len(piece), token))

    def single(texts: list[str]) -> list[int]:
        ids = (tokenizer.tokenize_str(c) for c in texts)
        return [t[0] for t in ids if len(t) == 1]

    return _Preference(
        brackets=np.array([t for _, t in sorted(brackets)], dtype=np.int64),
        quotes=np.array([t for _, t in sorted(quotes)], dtype=np.int64),
        separators=np.array(single(_SEPARATORS), dtype=np.int64),
        strings=np.array(single(['""', '"']), dtype=np.int64),
        fillers=np.array(single(_FILLERS), dtype=np.int64),
        words=np.array([t for _, t in sorted(words)[:_WORDS]], dtype=np.int64),
    )


@dataclass(frozen=True, slots=True)
class _Preference:
    """The closing walk's choice where the grammar forces nothing."""

    brackets: npt.NDArray[np.int64]  # "}", "]]", ...
    quotes: npt.NDArray[np.int64]  # a string's end, then brackets: '"', '"}', ...
    separators: npt.NDArray[np.int64]
    strings: npt.NDArray[np.int64]  # the empty string, else a string's start
    fillers: npt.NDArray[np.int64]
    words: npt.NDArray[np.int64]  # the longest all-letter tokens: few tokens fill a minLength

    def pick(self, bits: npt.NDArray[np.int32], previous: int, run: int) -> tuple[int | None, bool]:
        """The token to take from the mask row ``bits`` after ``previous`` and ``run``
        fillers in a row, and whether it is a filler.

        In a JSON string (a letter is allowed) brackets are just text: there the walk ends
        the string when it may, else writes fillers, with a separator every ``_FILL_RUN`` of
        them in case a format waits for one (the "@" of an e-mail address). Elsewhere it
        closes what it can, else separates, else writes the shortest value it can start.
        """
        separators = self.separators[self.separators != previous]
        if _first_allowed(bits, self.fillers[:1]) is not None:
            if run < _FILL_RUN:
                order = [self.quotes, self.words, self.fillers, separators]
            else:
                order = [self.quotes, separators, self.words, self.fillers]
        else:
            order = [self.brackets, separators, self.strings, self.fillers]
        for ids in order:
            token = _first_allowed(bits, ids)
            if token is not None:
                return token, ids is self.fillers or ids is self.words
        return _lowest_allowed(bits), False


def _first_allowed(bits: npt.NDArray[np.int32], ids: npt.NDArray[np.int64]) -> int | None:
    """The first of ``ids`` whose bit is set in the mask row ``bits``."""
    if not len(ids):
        return None
    hits = np.flatnonzero((bits[ids >> 5] >> (ids & 31).astype(np.int32)) & 1)
    return int(ids[hits[0]]) if len(hits) else None


def _lowest_allowed(bits: npt.NDArray[np.int32]) -> int | None:
    words = np.flatnonzero(bits)
    if not len(words):
        return None
    word = int(bits[words[0]]) & 0xFFFFFFFF
    return int(words[0]) * 32 + (word & -word).bit_length() - 1


@dataclass(slots=True)
class Constraint:
    """One sequence's matcher and its token bitmask (32 tokens per int32 word)."""

    matcher: llguidance.LLMatcher
    n_vocab: int
    words: int  # mask width: llguidance sizes it by its tokenizer
    preferred: _Preference
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

    def forced(self) -> list[int]:
        """The tokens the grammar forces from here, whatever the model would say."""
        return list(self.matcher.compute_ff_tokens())

    def closing(self, limit: int, after: int | None = None) -> list[int] | None:
        """A short way to complete the grammar from here (after ``after``, when given): the
        tokens that end in a state where the reply may stop, at most ``limit`` of them, or
        None when the walk finds none that short (or ``after`` is refused).

        Greedy, on a copy of the matcher: the tokens the grammar forces, else the longest
        token that only closes strings, objects and arrays, else a separator or a filler
        character (``_SEPARATORS``, ``_FILLERS``), else the lowest token allowed. Not always
        the shortest completion, but close to it for JSON, and what is found is valid.
        """
        m = self.matcher.deep_copy()
        if after is not None and not m.consume_token(after):
            return None
        bits = np.zeros(self._bits.shape[1], dtype=np.int32)
        row = bits.reshape(1, -1)
        path: list[int] = []
        run = 0  # filler characters picked in a row
        while not m.is_accepting():
            if len(path) >= limit or m.is_stopped():
                return None
            tokens = m.compute_ff_tokens()
            if not tokens:
                llguidance.numpy.fill_next_token_bitmask(m, row, 0)
                token, filler = self.preferred.pick(bits, path[-1] if path else -1, run)
                if token is None:
                    return None
                run = run + 1 if filler else 0
                tokens = [token]
            if not m.consume_tokens(tokens):
                return None
            path.extend(tokens)
        return path if len(path) <= limit else None

    @property
    def done(self) -> bool:
        """The grammar is complete and allows nothing more: generation ends here."""
        return bool(self.matcher.is_stopped())

    @property
    def error(self) -> str | None:
        return _first_line(self.matcher.get_error()) if self.matcher.is_error() else None
