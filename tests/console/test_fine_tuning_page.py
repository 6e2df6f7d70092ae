"""The Fine-tuning page in a real browser (Chromium) against a real ``autan serve`` on the
packaged model: a job created on the page and shown through its statuses; where the finetune
extra is installed, a short job trained to SUCCESS, its loss charted, and its model opened in the
playground."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import Console, screenshot, signed_in, start_console, upload
from tests.server import ROOT

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"
TRAINING = ROOT / "benchmarks" / "data" / "fine_tuning" / "capitals-train.jsonl"
VALIDATION = ROOT / "benchmarks" / "data" / "fine_tuning" / "capitals-valid.jsonl"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[Console]:
    """The console's server, training on batches of one example so that a job stays short, with
    the dequantized base model kept between runs."""
    env = {
        "AUTAN_FINE_TUNING__BATCH_SIZE": "1",
        "AUTAN_FINE_TUNING__MODEL_CACHE_DIR": str(model_cache),
    }
    yield from start_console(tmp_path_factory, env=env)


def console_model(console: Console) -> str:
    """The one model ``console`` serves."""
    r = httpx.get(
        f"{console.server.v1}/models", headers={"Authorization": f"Bearer {console.admin_key}"}
    )
    return str(r.json()["data"][0]["id"])


def _create_fine_tuning_job(
    page: Any, console: Console, steps: int, auto_start: bool, model: str = MODEL
) -> str:
    key = console.admin_key
    train = upload(console, key, TRAINING.name, TRAINING.read_bytes(), "fine-tune")
    valid = upload(console, key, VALIDATION.name, VALIDATION.read_bytes(), "fine-tune")
    page.get_by_role("link", name="Fine-tuning").click()
    page.locator("#ft-model").select_option(model)
    page.locator("#ft-training-file").select_option(train)
    page.locator("#ft-validation-file").select_option(valid)
    page.locator("#ft-steps").fill(str(steps))
    page.locator("#ft-learning-rate").fill("0.001")
    page.locator("#ft-seq-len").fill("100")
    page.locator("#ft-suffix").fill("console")
    page.locator("#ft-auto-start").set_checked(auto_start)
    page.evaluate(
        """() => {
            window.statuses = [];
            new MutationObserver(() => {
                const status = document.getElementById('ft-status')?.textContent;
                if (status && window.statuses[window.statuses.length - 1] !== status)
                    window.statuses.push(status);
            }).observe(document.getElementById('ft-detail'), {subtree: true, childList: true});
        }"""
    )
    page.get_by_role("button", name="Create job").click()
    page.locator("#ft-created code").wait_for()
    return str(page.locator("#ft-created code").text_content())


def _wait_for_status(console: Console, job_id: str, status: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {console.admin_key}"}
    while time.monotonic() < deadline:
        url = f"{console.server.v1}/fine_tuning/jobs/{job_id}"
        if httpx.get(url, headers=headers).json()["status"] == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not {status} after {timeout}s")


def test_a_fine_tuning_job_is_created_validated_and_shown_through_its_statuses(
    page: Any, console: Console
) -> None:
    # The race of a job validated at once: the list fetched just after the job's creation
    # still shows it queued, and the page's first poll of the job finds it validated. The list
    # must follow what the poll found.
    queued: list[str] = []  # the job the list showed queued
    polled: list[str] = []  # the job whose first poll was held until it was validated

    def list_as_when_queued(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        for job in body["data"]:
            if not queued and job["status"] in ("QUEUED", "VALIDATING", "VALIDATED"):
                queued.append(job["id"])
                job["status"] = "QUEUED"
        route.fulfill(response=response, json=body)

    def first_poll_once_validated(route: Any) -> None:
        job_id = route.request.url.rsplit("/", 1)[1]
        if route.request.method == "GET" and job_id in queued and not polled:
            polled.append(job_id)
            _wait_for_status(console, job_id, "VALIDATED")
        route.continue_()

    page.route(re.compile(r".*/v1/fine_tuning/jobs\?page_size=.*"), list_as_when_queued)
    page.route(re.compile(r".*/v1/fine_tuning/jobs/[0-9a-f-]{36}$"), first_poll_once_validated)
    job_id = _create_fine_tuning_job(page, console, steps=2, auto_start=False)
    page.locator("#ft-status", has_text="VALIDATED").wait_for(timeout=120_000)
    assert queued == polled == [job_id], (queued, polled, job_id)
    statuses = page.evaluate("window.statuses")
    assert statuses[0] == "QUEUED" and statuses[-1] == "VALIDATED", statuses
    assert page.locator("#ft-list tr", has_text=job_id).filter(has_text="VALIDATED").count() == 1
    detail = page.locator("#ft-detail").text_content()
    assert "training_steps 2" in detail and "learning_rate 0.001" in detail
    assert "No checkpoints yet" in detail
    # Nothing stray (a "null") among the job's elements.
    text_nodes = "[...document.querySelector('#ft-detail').childNodes].filter(n => n.nodeType == 3)"
    assert page.evaluate(f"{text_nodes}.length") == 0
    screenshot(page, "fine-tuning")
    page.get_by_role("button", name="Cancel").click()
    page.locator("#ft-status", has_text="CANCELLED").wait_for(timeout=60_000)
    assert page.errors == []


def _can_train() -> bool:
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def training_console(
    tmp_path_factory: pytest.TempPathFactory, tiny_chat_gguf: Path, model_cache: Path
) -> Iterator[Console]:
    """A console whose server serves a tiny random model with SmolLM2's vocabulary and chat
    template: the real trainer trains it in seconds, where a job on the packaged model took
    12 minutes on this project's busy 2-core machine."""
    env = {
        "AUTAN_FINE_TUNING__BATCH_SIZE": "1",
        "AUTAN_FINE_TUNING__MODEL_CACHE_DIR": str(model_cache),
    }
    yield from start_console(tmp_path_factory, env=env, model=tiny_chat_gguf)


@pytest.mark.skipif(
    not _can_train() and os.environ.get("CI") != "true",
    reason="training needs the finetune extra (torch, transformers, peft): `make dev` installs it",
)
def test_a_fine_tuning_job_trains_charts_its_loss_and_opens_in_the_playground(
    training_console: Console, browser: Any
) -> None:
    console = training_console
    page = signed_in(browser, console, console.admin_key)
    try:
        model = console_model(console)
        _create_fine_tuning_job(page, console, steps=4, auto_start=True, model=model)
        page.locator("#ft-status", has_text="SUCCESS").wait_for(timeout=240_000)
        statuses = page.evaluate("window.statuses")
        assert "RUNNING" in statuses and statuses[-1] == "SUCCESS", statuses
        page.locator("#ft-loss-chart canvas").wait_for()
        legend = page.locator("#ft-loss-chart").text_content()
        assert "Training loss" in legend and "Validation loss" in legend
        checkpoints = page.locator("#ft-checkpoints tbody tr")
        assert checkpoints.count() == 4
        assert all(float(c) > 0 for c in checkpoints.locator("td:nth-child(3)").all_text_contents())
        fine_tuned = page.locator("#ft-model-id").text_content()
        assert fine_tuned.startswith("ft:")
        screenshot(page, "fine-tuning-loss")

        page.get_by_role("link", name="Open in playground").click()
        page.locator("#pg-model").wait_for()
        assert page.locator("#pg-model").input_value() == fine_tuned
        assert page.errors == []
    finally:
        page.context.close()
