"""Incremental token-to-text decoding that never splits a UTF-8 character."""

from __future__ import annotations

import codecs
from collections.abc import Callable


class Detokenizer:
    """Turns token pieces (bytes) into text deltas; a partial character waits for its rest."""

    __slots__ = ("_decoder", "_piece")

    def __init__(self, piece: Callable[[int], bytes]) -> None:
        self._piece = piece
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, token: int) -> str:
        return self._decoder.decode(self._piece(token))

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)
