"""Per-key limits as clients see them: headers on every response, 429 with the true wait."""

import threading
from pathlib import Path
from typing import Any

import pytest

from autan.accounts.audit_log import Actor
from autan.accounts.key_store import KeyLimits
from autan.accounts.prices import Price, StaticPrices
from tests.accounts.gated_limits import GatedLimits
from tests.api.conftest import Platform, platform_app
from tests.api.test_auth import CHAT, bearer

HEADERS = (
    "x-ratelimit-limit-req-minute",
    "x-ratelimit-remaining-req-minute",
    "x-ratelimit-limit-tokens-minute",
    "x-ratelimit-remaining-tokens-minute",
)


def test_every_response_carries_the_four_headers(platform: Platform) -> None:
    _, secret = platform.key(rpm=10, tpm=1000)
    r = platform.client.get("/v1/models", headers=bearer(secret))
    assert [r.headers[h] for h in HEADERS] == ["10", "9", "1000", "1000"]
    r = platform.client.get("/v1/models/nope", headers=bearer(secret))
    assert r.status_code == 404
    assert r.headers["x-ratelimit-remaining-req-minute"] == "8"


def test_requests_past_the_limit_get_a_429_with_the_true_wait(platform: Platform) -> None:
    _, secret = platform.key(rpm=3)
    codes = [
        platform.client.get("/v1/models", headers=bearer(secret)).status_code for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    r = platform.client.get("/v1/models", headers=bearer(secret))
    body = r.json()
    assert body["object"] == "error" and body["type"] == "rate_limit_error"
    assert body["code"] == "requests_rate_limited"
    # One request refills every 20 s; a few milliseconds of it have passed.
    assert r.headers["retry-after"] in ("19", "20")
    assert r.headers["x-ratelimit-remaining-req-minute"] == "0"


def test_tokens_are_reserved_before_dispatch_and_the_rest_given_back(platform: Platform) -> None:
    _, secret = platform.key(tpm=1000)
    body = {**CHAT, "max_tokens": 100}
    r = platform.client.post("/v1/chat/completions", json=body, headers=bearer(secret))
    usage = r.json()["usage"]
    prompt = usage["prompt_tokens"]
    # The header is computed at admission: prompt + max_tokens are reserved.
    assert r.headers["x-ratelimit-remaining-tokens-minute"] == str(1000 - prompt - 100)
    # Afterwards only what was used stays taken (a refill of a token or two may have passed).
    r = platform.client.get("/v1/models", headers=bearer(secret))
    left = int(r.headers["x-ratelimit-remaining-tokens-minute"])
    assert 1000 - usage["total_tokens"] <= left <= 1000 - usage["total_tokens"] + 2


def test_a_request_whose_reservation_does_not_fit_is_refused_before_running(
    platform: Platform,
) -> None:
    _, secret = platform.key(tpm=200)
    ok = platform.client.post(
        "/v1/chat/completions", json={**CHAT, "max_tokens": 150}, headers=bearer(secret)
    )
    assert ok.status_code == 200
    decoded = platform.backend.decoded_tokens
    r = platform.client.post(
        "/v1/chat/completions", json={**CHAT, "max_tokens": 150}, headers=bearer(secret)
    )
    assert r.status_code == 429 and r.json()["code"] == "tokens_rate_limited"
    assert int(r.headers["retry-after"]) > 0
    assert platform.backend.decoded_tokens == decoded, "a refused request never reaches the engine"


def test_streams_carry_the_headers_before_the_first_chunk(platform: Platform) -> None:
    _, secret = platform.key(rpm=5, tpm=1000)
    with platform.client.stream(
        "POST",
        "/v1/chat/completions",
        json={**CHAT, "stream": True, "max_tokens": 50},
        headers=bearer(secret),
    ) as r:
        assert r.headers["x-ratelimit-remaining-req-minute"] == "4"
        assert int(r.headers["x-ratelimit-remaining-tokens-minute"]) < 1000 - 50
        text = "".join(r.iter_text())
    assert text.endswith("data: [DONE]\n\n")


def test_limits_changed_by_an_admin_apply_to_the_next_request(platform: Platform) -> None:
    key, secret = platform.key(rpm=1)
    assert platform.client.get("/v1/models", headers=bearer(secret)).status_code == 200
    assert platform.client.get("/v1/models", headers=bearer(secret)).status_code == 429
    platform.accounts.keys.set_limits(
        key.id, KeyLimits(requests_per_minute=100), actor=Actor.command_line()
    )
    r = platform.client.get("/v1/models", headers=bearer(secret))
    assert r.status_code == 200 and r.headers["x-ratelimit-limit-req-minute"] == "100"


def test_a_workspace_over_its_monthly_spend_limit_gets_429s(tmp_path: Path) -> None:
    prices = StaticPrices({"fake-model": Price(input=1_000_000.0, output=1_000_000.0)})
    for platform in platform_app(tmp_path, prices=prices):
        workspace = platform.accounts.workspaces.create("team", actor=Actor.command_line())
        _, secret = platform.key(workspace_id=workspace.id)
        platform.accounts.workspaces.set_spend_limit(
            workspace.id, 100.0, actor=Actor.command_line()
        )
        # 1 per token: the prompt (about 20) plus max_tokens 50 fits a limit of 100 once.
        body = {**CHAT, "max_tokens": 50}
        first = platform.client.post("/v1/chat/completions", json=body, headers=bearer(secret))
        assert first.status_code == 200
        spent = first.json()["usage"]["total_tokens"]
        assert spent < 50
        second = platform.client.post("/v1/chat/completions", json=body, headers=bearer(secret))
        assert second.status_code == 429
        assert second.json()["code"] == "spend_limit_exceeded"
        assert int(second.headers["retry-after"]) > 0
        small = {**CHAT, "max_tokens": 100 - spent - first.json()["usage"]["prompt_tokens"]}
        third = platform.client.post("/v1/chat/completions", json=small, headers=bearer(secret))
        assert third.status_code == 200


def test_a_workspace_s_limits_are_shared_by_its_keys_on_top_of_their_own(
    platform: Platform,
) -> None:
    admin = bearer(platform.admin_key)
    team = platform.client.post("/v1/admin/workspaces", json={"name": "Team"}, headers=admin)
    workspace = team.json()["uuid"]
    r = platform.client.patch(
        f"/v1/admin/workspaces/{workspace}",
        json={"requests_per_minute": 3, "tokens_per_minute": 100_000},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["requests_per_minute"] == 3 and r.json()["tokens_per_minute"] == 100_000
    _, first = platform.key(workspace_id=workspace, rpm=10)
    _, second = platform.key(workspace_id=workspace)
    _, elsewhere = platform.key()

    codes = [
        platform.client.get("/v1/models", headers=bearer(s)).status_code
        for s in (first, second, first, second)
    ]
    assert codes == [200, 200, 200, 429]
    refused = platform.client.get("/v1/models", headers=bearer(first))
    assert refused.status_code == 429
    assert refused.json()["code"] == "requests_rate_limited"
    assert "workspace" in refused.json()["message"] and refused.headers["retry-after"]
    # Refused by its workspace, the key's own request came back: 10 - 3 taken.
    assert refused.headers["x-ratelimit-remaining-req-minute"] == "7"
    assert platform.client.get("/v1/models", headers=bearer(elsewhere)).status_code == 200

    # Tokens: a reservation past the workspace's minute is refused before running, and the
    # key's own tokens are given back; removing the limits (null) frees the keys at once.
    r = platform.client.patch(
        f"/v1/admin/workspaces/{workspace}",
        json={"requests_per_minute": None, "tokens_per_minute": 50},
        headers=admin,
    )
    assert r.json()["requests_per_minute"] is None and r.json()["tokens_per_minute"] == 50
    body = {**CHAT, "max_tokens": 60}
    r = platform.client.post("/v1/chat/completions", json=body, headers=bearer(second))
    assert r.status_code == 200, "a reservation larger than a minute waits for a full bucket"
    r = platform.client.post("/v1/chat/completions", json=body, headers=bearer(second))
    assert r.status_code == 429 and r.json()["code"] == "tokens_rate_limited"
    assert "workspace" in r.json()["message"]
    platform.client.patch(
        f"/v1/admin/workspaces/{workspace}", json={"tokens_per_minute": None}, headers=admin
    )
    r = platform.client.post("/v1/chat/completions", json=body, headers=bearer(second))
    assert r.status_code == 200
    bad = platform.client.patch(
        f"/v1/admin/workspaces/{workspace}", json={"requests_per_minute": 0}, headers=admin
    )
    assert bad.status_code == 422


def _answers_while_held(platform: Platform, limits: GatedLimits, body: dict[str, Any]) -> None:
    """Send a completion; while its held limit call waits, ask for ``/livez``; then let the
    call through. ``/livez`` must answer first, and the completion only after the call."""
    _, secret = platform.key(tpm=10_000)
    order: list[str] = []

    def complete() -> None:
        r = platform.client.post("/v1/chat/completions", json=body, headers=bearer(secret))
        assert r.status_code == 200
        order.append("completion answered")

    def live() -> None:
        assert platform.client.get("/livez").status_code == 200
        order.append("livez answered")

    completion = threading.Thread(target=complete)
    completion.start()
    assert limits.waiting.wait(10), "the held call was never made"
    liveness = threading.Thread(target=live)
    liveness.start()
    liveness.join(10)  # a guard against a loop held for good, not a timing
    order.append("store answered")
    limits.gate.set()
    liveness.join()
    completion.join()
    assert order == ["livez answered", "store answered", "completion answered"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_slow_limit_store_never_holds_the_event_loop(tmp_path: Path, stream: bool) -> None:
    """While a completion's token bucket waits on a slow store (as on a slow Redis), the same
    process answers ``/livez``; and the completion's answer ends only once what it did not
    use has gone back."""
    body = {**CHAT, "max_tokens": 100, "stream": stream}
    # The reservation at admission, then the tokens given back when it ends.
    limits = GatedLimits(lambda operation, bucket: operation == "take" and ":tokens:" in bucket)
    for platform in platform_app(tmp_path, limits=limits):
        _answers_while_held(platform, limits, body)
        limits.hold(lambda operation, bucket: operation == "refund" and ":tokens:" in bucket)
        _answers_while_held(platform, limits, body)
    tokens = [c.operation for c in limits.calls if ":tokens:" in c.bucket]
    assert tokens.count("take") == 2 and tokens.count("refund") == 2
    assert [c for c in limits.calls if c.on_event_loop] == []
