import json

from fastapi.testclient import TestClient

from tests.protocol.spec import spec_errors

USER = [{"role": "user", "content": "Hi"}]


def chat(client: TestClient, **body: object) -> dict:  # type: ignore[type-arg]
    r = client.post("/v1/chat/completions", json={"model": "fake-model", "messages": USER, **body})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def sse(client: TestClient, **body: object) -> list[dict]:  # type: ignore[type-arg]
    payload = {"model": "fake-model", "messages": USER, "stream": True, **body}
    with client.stream("POST", "/v1/chat/completions", json=payload) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    return [json.loads(e.removeprefix("data: ")) for e in events[:-1]]


def test_completion_has_every_field_the_sdk_requires(client: TestClient) -> None:
    body = chat(client, temperature=0)
    assert body["object"] == "chat.completion"
    assert len(body["id"]) == 32 and body["model"] == "fake-model"
    (choice,) = body["choices"]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Hello from autan!",
        "tool_calls": None,
        "prefix": False,
    }
    assert choice["finish_reason"] == "stop"
    assert spec_errors("ChatCompletionResponse", body) == []
    usage = body["usage"]
    assert usage["completion_tokens"] == len("Hello from autan!")
    assert usage["prompt_tokens"] == len("<user>Hi\n<assistant>")
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_alias_answers_under_the_requested_name(client: TestClient) -> None:
    assert chat(client, model="mistral-small-latest")["model"] == "mistral-small-latest"


def test_max_tokens_gives_length(client: TestClient) -> None:
    body = chat(client, max_tokens=5, temperature=0)
    assert body["choices"][0]["message"]["content"] == "Hello"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5


def test_stop_strings_cut_and_never_leak(client: TestClient) -> None:
    body = chat(client, stop=[" from", "zzz"], temperature=0)
    assert body["choices"][0]["message"]["content"] == "Hello"
    assert body["choices"][0]["finish_reason"] == "stop"


def test_n_choices_are_indexed_and_billed_once_for_the_prompt(client: TestClient) -> None:
    one = chat(client, temperature=0)
    three = chat(client, n=3, temperature=0)
    assert [c["index"] for c in three["choices"]] == [0, 1, 2]
    assert three["usage"]["prompt_tokens"] == one["usage"]["prompt_tokens"]
    assert three["usage"]["completion_tokens"] == 3 * one["usage"]["completion_tokens"]


def test_prefix_continuation_echoes_the_prefix(client: TestClient) -> None:
    messages = [*USER, {"role": "assistant", "content": "Sure: ", "prefix": True}]
    body = chat(client, messages=messages, temperature=0)
    assert body["choices"][0]["message"]["content"] == "Sure: Hello from autan!"


def test_stream_chunks_follow_the_mistral_wire_format(client: TestClient) -> None:
    chunks = sse(client, temperature=0)
    # Absent fields are left out, never null (typed clients refuse a null usage or role); but
    # every chunk carries finish_reason, null until the last.
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    for c in chunks:
        assert c["object"] == "chat.completion.chunk"
        assert "finish_reason" in c["choices"][0]
        assert spec_errors("CompletionChunk", c) == []
        assert None not in c["choices"][0]["delta"].values()
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert all("usage" not in c and "logprobs" not in c["choices"][0] for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == len("Hello from autan!")
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks)
    assert text == "Hello from autan!"
    assert len({c["id"] for c in chunks}) == 1


def test_stream_with_n_carries_usage_only_on_the_last_chunk(client: TestClient) -> None:
    chunks = sse(client, n=2, temperature=0)
    finishes = [c for c in chunks if c["choices"][0]["finish_reason"]]
    assert sorted(c["choices"][0]["index"] for c in finishes) == [0, 1]
    assert chunks[-1]["usage"]["total_tokens"] > 0
    assert all("usage" not in c for c in chunks[:-1])


def test_openai_spellings_are_accepted(client: TestClient) -> None:
    body = chat(client, seed=3, max_completion_tokens=3, temperature=0)
    assert body["choices"][0]["message"]["content"] == "Hel"


def test_text_chunks_are_accepted_as_content(client: TestClient) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert chat(client, messages=messages)["usage"]["prompt_tokens"] == len("<user>Hi\n<assistant>")
