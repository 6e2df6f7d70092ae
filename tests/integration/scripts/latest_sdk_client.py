"""Runs under the newest ``mistralai`` release (its own virtualenv); prints one JSON report.

Usage: python latest_sdk_client.py SERVER_URL
"""

from __future__ import annotations

import asyncio
import json
import sys


def _client_class():  # type: ignore[no-untyped-def]
    try:
        from mistralai import Mistral
    except ImportError:  # 2.x moved the client under mistralai.client
        from mistralai.client import Mistral
    return Mistral


def main(url: str) -> None:
    import mistralai

    Mistral = _client_class()
    client = Mistral(api_key="any-key", server_url=url)
    hello = [{"role": "user", "content": "Say hello in one short sentence."}]
    report: dict[str, object] = {"version": getattr(mistralai, "__version__", None)}
    if report["version"] is None:
        from importlib.metadata import version

        report["version"] = version("mistralai")

    r = client.chat.complete(
        model="mistral-small-latest", messages=hello, max_tokens=16, temperature=0
    )
    report["complete"] = {
        "content": r.choices[0].message.content,
        "finish_reason": r.choices[0].finish_reason,
        "usage": [r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens],
    }
    chunks = list(
        client.chat.stream(
            model="mistral-small-latest", messages=hello, max_tokens=16, temperature=0
        )
    )
    report["stream"] = {
        "text": "".join(c.data.choices[0].delta.content or "" for c in chunks),
        "first_role": chunks[0].data.choices[0].delta.role,
        "last_finish": chunks[-1].data.choices[0].finish_reason,
        "last_usage": chunks[-1].data.usage.completion_tokens if chunks[-1].data.usage else None,
    }

    async def run_async() -> str:
        res = await client.chat.complete_async(
            model="smollm2-135m-instruct", messages=hello, max_tokens=8, temperature=0
        )
        return res.choices[0].message.content

    report["async"] = asyncio.run(run_async())
    prefix = client.chat.complete(
        model="smollm2-135m-instruct",
        messages=[
            {"role": "user", "content": "Name a colour."},
            {"role": "assistant", "content": "My colour is", "prefix": True},
        ],
        max_tokens=6,
        temperature=0,
    )
    report["prefix"] = prefix.choices[0].message.content
    emb = client.embeddings.create(
        model="mistral-embed", inputs=["One sentence.", "Another one."], output_dimension=32
    )
    report["embeddings"] = [len(d.embedding) for d in emb.data] + [emb.usage.total_tokens]
    models = client.models.list()
    report["models"] = [[m.id, list(m.aliases)] for m in models.data]
    try:
        client.chat.complete(model="no-such-model", messages=hello)
        report["error"] = None
    except Exception as e:  # the SDK's error class moved between releases
        report["error"] = [type(e).__name__, getattr(e, "status_code", None)]
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
