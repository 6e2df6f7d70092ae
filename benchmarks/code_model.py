"""The packaged code model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M) in this process: load time,
resident memory, and single-stream decode speed.

Each round loads the model as ``autan serve`` does on first use (the sha256 check of the joined
file, the weights, the engine), then decodes greedily, one request at a time, ``--tokens``
tokens of a chat reply and of a FIM middle, and unloads it. Prints the median of each figure
over the rounds: seconds to hash the file, and to load it on first use (that hash included),
the process's resident memory (VmRSS) before and after loading, and decode tokens per second
(after the first token).

    .venv/bin/python -m benchmarks.code_model --threads 2 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from autan.inference.engine import Engine
from autan.inference.sampling import SamplingParams
from autan.models.loader import LocalLoader, code_model_card
from autan.models.packaged import CODE_MODEL, file_sha256
from autan.settings import EngineSettings, Settings

CHAT = "Write a Python function that checks whether a string is a palindrome."
FIM_PROMPT = "def is_palindrome(text: str) -> bool:\n    "
FIM_SUFFIX = "\n\nprint(is_palindrome('level'))"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def decode_rate(engine: Engine, prompt: list[int], tokens: int) -> tuple[float, int]:
    """Tokens per second after the first one, and the tokens decoded."""
    params = SamplingParams(max_tokens=tokens, temperature=0.0)
    timings = None
    async for _, out in engine.generate(prompt, [params]):
        timings = out.timings or timings
    assert timings is not None, "the last output carries the timings"
    n = len(timings.token_gaps)
    return (n / sum(timings.token_gaps) if n else 0.0), n + 1


def one_round(a: argparse.Namespace) -> dict[str, float]:
    settings = Settings.model_validate(
        {"engine": EngineSettings(parallel=1, context_per_sequence=2048, threads=a.threads)}
    )
    loader = LocalLoader(settings)
    card = code_model_card()
    plan = loader.plan(card)
    start = time.perf_counter()
    file_sha256(CODE_MODEL.path())
    check = time.perf_counter() - start
    before = rss_mib()
    start = time.perf_counter()
    CODE_MODEL._verified.clear()  # first use: the load checks the sha256 again
    model = loader.load(card, plan)
    load = time.perf_counter() - start
    try:
        loaded = rss_mib()
        engine = model.engine
        chat_prompt = engine.tokenize(
            f"<|im_start|>user\n{CHAT}<|im_end|>\n<|im_start|>assistant\n",
            add_special=False,
            parse_special=True,
        )
        fim = model.formats.fim
        assert fim is not None, "the code model has FIM tokens"
        chat_rate, chat_n = asyncio.run(decode_rate(engine, chat_prompt, a.tokens))
        fim_rate, fim_n = asyncio.run(
            decode_rate(engine, fim.tokens(FIM_PROMPT, FIM_SUFFIX), a.tokens)
        )
        after = rss_mib()
    finally:
        model.engine.close()
    return {
        "sha256 check s": check,
        "first-use load s": load,
        "rss before MiB": before,
        "rss loaded MiB": loaded,
        "rss after decode MiB": after,
        "chat tokens": chat_n,
        "chat tok/s": chat_rate,
        "fim tokens": fim_n,
        "fim tok/s": fim_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    a = parser.parse_args()
    CODE_MODEL.path()  # fails with the install hint when it is missing
    rounds = [one_round(a) for _ in range(a.rounds)]
    for key in rounds[0]:
        values = [r.get(key, float("nan")) for r in rounds]
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{key:28} median {statistics.median(values):8.2f}   ({shown})")


if __name__ == "__main__":
    main()
