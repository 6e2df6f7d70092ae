"""The order batch lines run in: prompts that share a prefix follow one another."""

from autan.jobs.batch.batch_executor import by_shared_prefix
from autan.jobs.batch.batch_lines import PendingLine


def chat(line: int, system: str, user: str, model: str | None = None) -> PendingLine:
    body: dict[str, object] = {
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]
    }
    if model is not None:
        body["model"] = model
    return PendingLine(line, str(line), body)


def test_lines_sharing_a_system_prompt_run_together_in_file_order_within() -> None:
    lines = [
        chat(0, "Classify the ticket.", "My bike is broken"),
        chat(1, "Summarise the text.", "A long story"),
        chat(2, "Classify the ticket.", "Where is my order?"),
        chat(3, "Summarise the text.", "A long story"),
        chat(4, "Classify the ticket.", "My bike is broken"),
    ]
    order = [line.line for line in by_shared_prefix(lines)]
    position = {n: i for i, n in enumerate(order)}
    # Same system prompt: contiguous. Same whole prompt: next to each other, file order kept.
    classify = sorted(position[n] for n in (0, 2, 4))
    assert classify == list(range(classify[0], classify[0] + 3))
    assert abs(position[1] - position[3]) == 1 and position[1] < position[3]
    assert abs(position[0] - position[4]) == 1 and position[0] < position[4]


def test_lines_of_different_models_do_not_interleave_and_other_endpoints_sort_too() -> None:
    lines = [
        chat(0, "S", "a", model="m2"),
        chat(1, "S", "a", model="m1"),
        chat(2, "S", "b", model="m2"),
        PendingLine(3, "3", {"prompt": "def f(", "suffix": ")"}),
        PendingLine(4, "4", {"input": ["x", "y"]}),
        PendingLine(5, "5", {"prompt": "def f(", "suffix": "]"}),
    ]
    order = [line.line for line in by_shared_prefix(lines)]
    assert order.index(0) + 1 == order.index(2)  # m2's lines together
    assert abs(order.index(3) - order.index(5)) == 1  # the same FIM prompt together
    assert sorted(order) == list(range(6))
