"""Prompts for models that carry a Jinja chat template in their GGUF (the packaged default)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from autan.errors import InvalidRequest

# Used when a GGUF carries no template: ChatML, what most small instruct models were tuned on.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _raise_exception(message: str) -> None:
    raise InvalidRequest(f"The model's chat template refused the conversation: {message}")


def _tojson(value: Any, indent: int | None = None, **_: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


@dataclass(frozen=True, slots=True)
class TemplateMessage:
    """A message reduced to what every template understands: a role and plain text.

    Tool calls and results arrive here already written in the model's tool format.
    """

    role: str
    content: str

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content}


class ChatTemplate:
    """Renders messages with the model's Jinja template (sandboxed) into prompt text."""

    def __init__(self, source: str | None, *, bos_text: str, eos_text: str) -> None:
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        env.globals["raise_exception"] = _raise_exception
        env.filters["tojson"] = _tojson
        self._template = env.from_string(source or CHATML)
        self.bos_text = bos_text
        self._eos_text = eos_text

    def render(self, messages: list[TemplateMessage], *, continue_last: bool) -> str:
        """Prompt text ending where the assistant speaks next.

        With ``continue_last`` the last message is an assistant prefix: the prompt is the
        conversation before it, the assistant header, then the prefix text verbatim.
        """
        head = messages[:-1] if continue_last else messages
        try:
            text = self._template.render(
                messages=[m.as_dict() for m in head],
                add_generation_prompt=True,
                bos_token=self.bos_text,
                eos_token=self._eos_text,
            )
        except TemplateError as e:
            raise InvalidRequest(f"The model's chat template failed: {e}") from e
        if continue_last:
            text += messages[-1].content
        return text
