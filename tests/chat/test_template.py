import pytest

from autan.chat.template import ChatTemplate, TemplateMessage
from autan.errors import InvalidRequest

SMOL = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are SmolLM<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_renders_the_gguf_template_with_a_generation_prompt() -> None:
    t = ChatTemplate(SMOL, bos_text="", eos_text="<|im_end|>")
    text = t.render([TemplateMessage("user", "Hi")], continue_last=False)
    assert text == (
        "<|im_start|>system\nYou are SmolLM<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_prefix_continuation_appends_the_prefix_after_the_assistant_header() -> None:
    t = ChatTemplate(SMOL, bos_text="", eos_text="")
    text = t.render(
        [TemplateMessage("user", "Hi"), TemplateMessage("assistant", "Sure, ")],
        continue_last=True,
    )
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nSure, ")


def test_a_model_without_template_gets_chatml() -> None:
    text = ChatTemplate(None, bos_text="", eos_text="").render(
        [TemplateMessage("user", "x")], continue_last=False
    )
    assert text == "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"


def test_raise_exception_in_a_template_is_a_400() -> None:
    t = ChatTemplate("{{ raise_exception('roles must alternate') }}", bos_text="", eos_text="")
    with pytest.raises(InvalidRequest, match="roles must alternate"):
        t.render([TemplateMessage("user", "x")], continue_last=False)


def test_templates_are_sandboxed() -> None:
    t = ChatTemplate("{{ ''.__class__.__mro__[1].__subclasses__() }}", bos_text="", eos_text="")
    with pytest.raises(Exception, match=r"unsafe|not safely|access"):
        t.render([TemplateMessage("user", "x")], continue_last=False)
