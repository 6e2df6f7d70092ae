"""Conversations as token ids with labels on the assistant's tokens only.

Each assistant turn's tokens are found by rendering the conversation twice through the model's
chat template: up to the turn with the generation prompt (where the reply starts), and up to the
end of the turn (where it stops, end-of-turn marker included). The first must be a token prefix
of the whole; when a template breaks that, the example is refused rather than trained on the
wrong tokens. Everything else (system, user, tool messages, the template's own markup, padding)
gets the label -100, which the loss ignores; so do assistant turns with ``weight: 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autan.fine_tuning.dataset import Conversation, plain_messages

IGNORE = -100


@dataclass(frozen=True, slots=True)
class ChatExample:
    ids: list[int]
    labels: list[int]  # IGNORE where no loss is taken

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


class ChatExamples:
    """Renders and tokenizes conversations with one tokenizer, cutting them at ``seq_len``."""

    def __init__(self, tokenizer: Any, seq_len: int) -> None:
        self._tokenizer = tokenizer
        self.seq_len = seq_len

    def _ids(self, messages: list[dict[str, Any]], *, prompt: bool, tools: Any) -> list[int]:
        text = self._tokenizer.apply_chat_template(
            messages, tools=tools or None, tokenize=False, add_generation_prompt=prompt
        )
        ids: list[int] = self._tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def encode(self, conversation: Conversation) -> ChatExample:
        messages = plain_messages(conversation)
        tools = conversation.tools
        ids = self._ids(messages, prompt=False, tools=tools)
        labels = [IGNORE] * len(ids)
        for i, message in enumerate(conversation.messages):
            if message["role"] != "assistant" or message.get("weight", 1) == 0:
                continue
            start = len(self._ids(messages[:i], prompt=True, tools=tools))
            turn = self._ids(messages[: i + 1], prompt=False, tools=tools)
            if ids[: len(turn)] != turn or turn[:start] != ids[:start]:
                raise ValueError(
                    f"line {conversation.line}: the chat template does not render this "
                    "conversation as a sequence of turns; its assistant tokens cannot be found"
                )
            labels[start : len(turn)] = ids[start : len(turn)]
        return ChatExample(ids[: self.seq_len], labels[: self.seq_len])

    def batch(self, examples: list[ChatExample], pad_id: int) -> tuple[Any, Any, Any]:
        """(input_ids, attention_mask, labels) padded to the batch's longest example."""
        import torch

        width = max(len(e.ids) for e in examples)
        ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
        for row, e in enumerate(examples):
            n = len(e.ids)
            ids[row, :n] = torch.tensor(e.ids)
            mask[row, :n] = 1
            labels[row, :n] = torch.tensor(e.labels)
        return ids, mask, labels
