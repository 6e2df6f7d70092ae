"""A real ``autan serve`` (with keys) on the packaged model, and Debian's Chromium driven by
Playwright. Without Chromium or Playwright the browser tests are skipped, or fail with
``CI=true`` (``make dev`` installs Chromium when run as root)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from autan.console.console_files import STATIC_DIR
from tests.server import ROOT, Server, start_server, stop_server

CHROMIUM = Path(os.environ.get("AUTAN_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "docs" / "console"


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


def start_console(
    tmp_path_factory: pytest.TempPathFactory,
    env: dict[str, str] | None = None,
    model: Path | None = None,
) -> Iterator[Console]:
    """A server with keys for the console, with the ``AUTAN_*`` settings in ``env``, serving
    ``model`` (a GGUF) or the packaged model."""
    if not (STATIC_DIR / "vendor" / "uPlot.esm.js").is_file():
        _unavailable("The console's chart library is not in autan/console/static/vendor")
    data_dir = tmp_path_factory.mktemp("console")
    args = ("--data-dir", str(data_dir), "--ctx-size", "1024", "--threads", "1")
    if model is not None:
        args = (*args, "--model", str(model))
    proc, server = start_server(*args, auth=True, env=env)
    try:
        yield Console(server, (data_dir / "admin_key").read_text().strip())
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    yield from start_console(tmp_path_factory)


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


def signed_in(browser: Any, console: Console, key: str) -> Any:
    """A new page signed in with ``key``. Every URL it requested is in ``page.requested``, every
    error its console logged or script threw in ``page.errors``, every dialog's message (each
    one accepted) in ``page.dialogs``."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.requested = []
    page.errors = []
    page.dialogs = []
    page.on("request", lambda request: page.requested.append(request.url))

    def log(message: Any) -> None:
        if message.type == "error":
            page.errors.append(f"{message.text} ({message.location['url']})")

    page.on("console", log)
    page.on("pageerror", lambda error: page.errors.append(str(error)))

    def accept(dialog: Any) -> None:
        page.dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.set_default_timeout(30_000)
    page.goto(console.url)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Overview").wait_for()
    return page


@pytest.fixture
def page(console: Console, browser: Any) -> Iterator[Any]:
    """A page signed in with the admin key."""
    page = signed_in(browser, console, console.admin_key)
    try:
        yield page
    finally:
        page.context.close()


@dataclass
class SignedIn:
    """A page signed in with a key, and the errors its console logged or its scripts threw."""

    page: Any
    errors: list[str]


def sign_in(console: Console, browser: Any, key: str) -> SignedIn:
    page = signed_in(browser, console, key)
    return SignedIn(page, page.errors)


def screenshot(page: Any, name: str) -> None:
    """The page as users see it. With ``AUTAN_CONSOLE_SCREENSHOTS=1`` it is saved in
    docs/console/ (the README shows the main ones); otherwise it is only taken, so a test run
    leaves the checkout as it was."""
    if os.environ.get("AUTAN_CONSOLE_SCREENSHOTS") != "1":
        page.screenshot(full_page=True)
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def upload(console: Console, key: str, name: str, content: bytes, purpose: str) -> str:
    """Uploads a file through the API with ``key``; its id."""
    r = httpx.post(
        f"{console.server.v1}/files",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": (name, content)},
        data={"purpose": purpose},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])
