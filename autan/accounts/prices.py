"""What tokens cost: per model, per million tokens, input and output priced apart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from autan.errors import UnknownModel
from autan.models.card import ModelCard

# Batch requests are billed at half price, as La Plateforme bills its batch API.
BATCH_DISCOUNT = 0.5

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF"}


def currency_symbol(currency: str) -> str:
    """How amounts in ``currency`` (ISO 4217) are written; the code itself when unknown."""
    return _SYMBOLS.get(currency, currency)


@dataclass(frozen=True, slots=True)
class Price:
    """Units of ``AccountsSettings.currency`` per million tokens."""

    input: float = 0.0
    output: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int, *, batch: bool = False) -> float:
        full = (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000
        return full * BATCH_DISCOUNT if batch else full


class Prices(Protocol):
    def for_model(self, model_id: str) -> Price: ...


class StaticPrices:
    """Prices from a table, by model id; models not in it are free."""

    def __init__(self, table: Mapping[str, Price] | None = None) -> None:
        self._table = dict(table or {})

    def for_model(self, model_id: str) -> Price:
        return self._table.get(model_id, Price())


class CardSource(Protocol):
    """Where cards are found by name: the router, which knows local and routed models."""

    def card_of(self, name: str) -> ModelCard | None: ...


class CardPrices:
    """Prices from the model cards (``price_input``/``price_output`` per million tokens); a
    card without them is free."""

    def __init__(self, cards: CardSource) -> None:
        self._cards = cards

    def for_model(self, model_id: str) -> Price:
        try:
            card = self._cards.card_of(model_id)
        except UnknownModel:
            return Price()
        if card is None:
            return Price()
        return Price(input=card.price_input, output=card.price_output)
