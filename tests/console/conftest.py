"""A real ``autan serve`` (with keys) on the packaged model, and Debian's Chromium driven by
Playwright. Without Chromium or Playwright the browser tests are skipped, or fail with
``CI=true`` (``make dev`` installs Chromium when run as root)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autan.console.console_files import STATIC_DIR
from tests.server import Server, start_server, stop_server

CHROMIUM = Path(os.environ.get("AUTAN_TEST_CHROMIUM", "/usr/bin/chromium"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must provide it (`make dev` installs it)")
    pytest.skip(f"{reason}: the console's browser tests need it (`make dev` installs it)")


@dataclass(frozen=True)
class Console:
    server: Server
    admin_key: str

    @property
    def url(self) -> str:
        return f"{self.server.url}/console/"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    if not (STATIC_DIR / "vendor" / "uPlot.esm.js").is_file():
        _unavailable("The console's chart library is not in autan/console/static/vendor")
    data_dir = tmp_path_factory.mktemp("console")
    args = ("--data-dir", str(data_dir), "--ctx-size", "1024", "--threads", "1")
    proc, server = start_server(*args, auth=True)
    try:
        yield Console(server, (data_dir / "admin_key").read_text().strip())
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        _unavailable(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class SignedIn:
    """A page signed in with a key; the browser's console errors and uncaught exceptions
    are collected in ``errors``."""

    page: Any
    errors: list[str]


def sign_in(console: Console, browser: Any, key: str) -> SignedIn:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(console.url)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Overview").wait_for()
    return SignedIn(page, errors)


def screenshot(page: Any, name: str) -> None:
    """The page as users see it. With ``AUTAN_CONSOLE_SCREENSHOTS=1`` it is saved in
    docs/console/ (the README shows the main ones); otherwise it is only taken, so a test run
    leaves the checkout as it was."""
    if os.environ.get("AUTAN_CONSOLE_SCREENSHOTS") != "1":
        page.screenshot(full_page=True)
        return
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
