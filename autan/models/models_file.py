"""The models file: a TOML list of ``[[models]]`` entries, each a ``ModelCard``.

Relative ``path`` values are read relative to the file's folder. ``autan models add`` and
``remove`` rewrite the whole file, so comments in it are not kept.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from autan.errors import ModelsFileError
from autan.models.card import ModelCard
from autan.models.packaged import PACKAGED_NAME


class ModelsFile:
    """Reads, checks and rewrites one models file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[ModelCard]:
        """The declared models, checked; an absent file declares none."""
        if not self.path.exists():
            return []
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ModelsFileError(f"{self.path}: cannot read it as TOML: {e}") from e
        unknown = sorted(set(data) - {"models"})
        if unknown:
            raise ModelsFileError(
                f"{self.path}: unknown top-level key {unknown[0]!r}; models are declared as "
                f"[[models]] tables"
            )
        entries = data.get("models", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ModelsFileError(f"{self.path}: `models` must be a list of [[models]] tables")
        cards = [self._card(i, entry) for i, entry in enumerate(entries)]
        self.check_names(cards)
        return cards

    def write(self, cards: list[ModelCard]) -> None:
        self.check_names(cards)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = tomli_w.dumps({"models": [_entry(c) for c in cards]})
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.path)

    def add(self, card: ModelCard) -> None:
        self.write([*self.read(), card])

    def remove(self, model_id: str) -> ModelCard:
        cards = self.read()
        for card in cards:
            if card.id == model_id:
                self.write([c for c in cards if c is not card])
                return card
        known = ", ".join(c.id for c in cards) or "none"
        raise ModelsFileError(f"{self.path}: no model has the id {model_id!r} (declared: {known})")

    def check_names(self, cards: list[ModelCard]) -> None:
        """Every id and alias names one model only."""
        owner: dict[str, str] = {}
        for card in cards:
            for name in card.names:
                if name in owner:
                    raise ModelsFileError(
                        f"{self.path}: model {card.id!r}: the name {name!r} is already used by "
                        f"model {owner[name]!r}"
                    )
                owner[name] = card.id

    def _card(self, index: int, entry: dict[str, Any]) -> ModelCard:
        label = (
            f"model {entry['id']!r}" if isinstance(entry.get("id"), str) else f"model #{index + 1}"
        )
        if isinstance(entry.get("path"), str):
            entry = {**entry, "path": self.path.parent / Path(entry["path"]).expanduser()}
        try:
            card = ModelCard.model_validate(entry)
        except ValidationError as e:
            problems = "; ".join(_problem(err) for err in e.errors())
            raise ModelsFileError(f"{self.path}: {label}: {problems}") from e
        if card.path is not None and not card.path.is_file():
            raise ModelsFileError(f"{self.path}: {label}: no GGUF file at {card.path}")
        return card


def _problem(err: Any) -> str:
    where = ".".join(str(part) for part in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    msg = str(err["ctx"]["error"]) if err["type"] == "value_error" else err["msg"]
    return f"{where}: {msg}" if where else msg


def _entry(card: ModelCard) -> dict[str, Any]:
    """The card as a TOML table: only what differs from the defaults of its kind."""
    entry = card.model_dump(mode="json", exclude_defaults=True, exclude={"capabilities"})
    defaults = ModelCard.model_validate(
        {"id": card.id, "kind": card.kind, "packaged": PACKAGED_NAME}
    ).capabilities
    changed = {k: v for k, v in card.capabilities.model_dump().items() if getattr(defaults, k) != v}
    if changed:
        entry["capabilities"] = changed
    return entry
