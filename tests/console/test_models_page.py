"""The Models page in a real browser (Chromium) against a real ``autan serve`` on the packaged
model: its capabilities and prices, and the model unloaded and loaded again by its buttons."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.console.conftest import Console, screenshot

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"


def _state(console: Console) -> str:
    health = httpx.get(f"{console.server.url}/health").json()
    (model,) = [m for m in health["models"] if m["id"] == MODEL]
    return str(model["state"])


def _cells(page: Any) -> list[str]:
    row = page.locator("#models-body tr", has_text=MODEL).first
    return [str(c) for c in row.locator("td").all_text_contents()]


def test_the_models_page_shows_capabilities_and_prices_and_unloads_and_loads(
    page: Any, console: Console
) -> None:
    prices = httpx.get(
        f"{console.server.v1}/admin/prices",
        headers={"Authorization": f"Bearer {console.admin_key}"},
    ).json()
    (price,) = [p for p in prices["data"] if p["model"] == MODEL]
    page.get_by_role("link", name="Models").click()
    page.locator("#models-body tr", has_text=MODEL).first.wait_for()
    cells = _cells(page)
    assert "chat" in cells[6].split(", "), cells
    assert cells[7] == f"{prices['currency_symbol']}{price['input']:g}", cells
    assert cells[8] == f"{prices['currency_symbol']}{price['output']:g}", cells

    row = page.locator("#models-body tr", has_text=MODEL).first
    if cells[2] != "loaded":
        row.get_by_role("button", name="Load", exact=True).click()
        page.locator("#models-message").get_by_text(f"{MODEL} is loaded.").wait_for(timeout=120_000)
    page.locator("#models-body tr", has_text=MODEL).first.get_by_role(
        "button", name="Unload", exact=True
    ).click()
    page.locator("#models-message").get_by_text(f"{MODEL} is unloaded.").wait_for()
    assert _cells(page)[2] == "unloaded" and _state(console) == "unloaded"
    screenshot(page, "models")
    page.locator("#models-body tr", has_text=MODEL).first.get_by_role(
        "button", name="Load", exact=True
    ).click()
    page.locator("#models-message").get_by_text(f"{MODEL} is loaded.").wait_for(timeout=120_000)
    assert _cells(page)[2] == "loaded" and _state(console) == "loaded"
    assert page.errors == [], page.errors
