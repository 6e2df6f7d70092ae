from pathlib import Path

import pytest

from autan.fine_tuning.chat_examples import IGNORE, ChatExamples
from autan.fine_tuning.dataset import Conversation
from autan.fine_tuning.dequantized_model import DequantizedModel

pytest.importorskip("transformers")


def test_labels_cover_the_assistant_replies_and_nothing_else(
    tiny_chat_gguf: Path, model_cache: Path
) -> None:
    tokenizer = DequantizedModel.load(tiny_chat_gguf, model_cache).tokenizer
    conversation = Conversation(
        1,
        [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Colour of the sky?"},
            {"role": "assistant", "content": "Grey.", "weight": 0},
            {"role": "user", "content": "And grass?"},
            {"role": "assistant", "content": "Green."},
        ],
    )
    example = ChatExamples(tokenizer, seq_len=512).encode(conversation)
    trained = [i for i, label in zip(example.ids, example.labels, strict=True) if label != IGNORE]
    # The last reply and the end of its turn; not the weight-0 reply, not the prompts.
    assert tokenizer.decode(trained) == "Green.<|im_end|>\n"
    assert tokenizer.decode(example.ids).startswith("<|im_start|>system\nAnswer in one word.")

    cut = ChatExamples(tokenizer, seq_len=8).encode(conversation)
    assert len(cut.ids) == 8 and cut.trained_tokens == 0
