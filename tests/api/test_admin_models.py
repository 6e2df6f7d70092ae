"""``/v1/admin/models/{id}/load`` and ``/unload`` through the API, admin keys only, and
``/v1/admin/prices``."""

from __future__ import annotations

from pathlib import Path

from autan.accounts.prices import Price, StaticPrices
from tests.api.conftest import Platform, platform_app
from tests.api.test_auth import bearer


def _state(platform: Platform) -> str:
    (model,) = platform.client.get("/health").json()["models"]
    return str(model["state"])


def test_an_admin_unloads_and_loads_a_model(platform: Platform) -> None:
    admin = bearer(platform.admin_key)
    assert _state(platform) == "loaded"  # preloaded
    r = platform.client.post("/v1/admin/models/mistral-small-latest/unload", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "object": "model.state",
        "id": "fake-model",
        "state": "unloaded",
        "memory_bytes": r.json()["memory_bytes"],
    }
    assert _state(platform) == "unloaded"
    again = platform.client.post("/v1/admin/models/fake-model/unload", headers=admin)
    assert again.status_code == 200 and again.json()["state"] == "unloaded"
    r = platform.client.post("/v1/admin/models/fake-model/load", headers=admin)
    assert r.status_code == 200 and r.json()["state"] == "loaded"
    assert _state(platform) == "loaded"
    (model,) = platform.client.get("/health").json()["models"]
    assert model["loads"] == 2 and model["unloads"] == 1


def test_only_an_admin_key_and_a_declared_model(platform: Platform) -> None:
    _, secret = platform.key()
    r = platform.client.post("/v1/admin/models/fake-model/unload", headers=bearer(secret))
    assert r.status_code == 403 and r.json()["object"] == "error"
    assert platform.client.post("/v1/admin/models/fake-model/load").status_code == 401
    r = platform.client.post("/v1/admin/models/nope/load", headers=bearer(platform.admin_key))
    assert r.status_code == 404 and r.json()["object"] == "error"
    assert _state(platform) == "loaded"


def test_any_key_reads_the_prices(tmp_path: Path) -> None:
    prices = StaticPrices({"fake-model": Price(input=0.25, output=1.5)})
    for platform in platform_app(tmp_path, prices=prices):
        _, secret = platform.key()
        r = platform.client.get("/v1/admin/prices", headers=bearer(secret))
        assert r.status_code == 200, r.text
        assert r.json() == {
            "object": "list",
            "currency": "USD",
            "currency_symbol": "$",
            "batch_discount": 0.5,
            "data": [{"model": "fake-model", "input": 0.25, "output": 1.5}],
        }
        assert platform.client.get("/v1/admin/prices").status_code == 401
