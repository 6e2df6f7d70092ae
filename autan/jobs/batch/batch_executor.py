"""Runs batch jobs for the ``JobRunner``: the lines not yet answered, a few at a time, each
checkpointed as it ends; then the output and error files.

A job resumed after a crash starts from ``BatchLines.pending``, so lines answered before the
crash are neither run nor billed again. A line the engine turns away for now (its queue full,
the server stopping) is run again later, never answered with that refusal.

Lines run in the order of their prompts (``by_shared_prefix``), not of the file: lines that
share a system prompt, or a whole prompt, then follow one another, and each finds the shared
part in the KV its predecessor left. The output file keeps the input's order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from autan.accounts.accounts import Accounts
from autan.files.file_store import FileStore
from autan.jobs.batch.batch_caller import BatchCaller
from autan.jobs.batch.batch_line_record import line_context, settle_line
from autan.jobs.batch.batch_lines import BatchLines, PendingLine
from autan.jobs.batch.batch_service import KIND
from autan.jobs.job import JobStatus
from autan.jobs.runner import JobLease
from autan.observability.batch_line_span import line_span
from autan.observability.request_context import enter_request, leave_request
from autan.observability.request_log import RequestLog
from autan.observability.tracing import Tracing
from autan.storage.database import Database
from autan.storage.tables import utcnow

log = logging.getLogger(__name__)


def by_shared_prefix(lines: list[PendingLine]) -> list[PendingLine]:
    """``lines`` sorted by model, then by their prompt as JSON text (chat ``messages``, FIM
    ``prompt``, embeddings ``input``): equal prefixes of the text sit together."""

    def key(line: PendingLine) -> tuple[str, str, int]:
        body = line.body
        prompt = body.get("messages", body.get("prompt", body.get("input")))
        return str(body.get("model") or ""), json.dumps(prompt, sort_keys=True), line.line

    return sorted(lines, key=key)


async def _jsonl(lines: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for start in range(0, len(lines), 256):
        yield "".join(json.dumps(line) + "\n" for line in lines[start : start + 256]).encode()


class BatchExecutor:
    name = KIND

    def __init__(
        self,
        db: Database,
        accounts: Accounts | None,
        files: FileStore,
        caller: BatchCaller,
        *,
        concurrency: int = 16,
        request_log: RequestLog | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._accounts = accounts
        self._request_log = request_log
        self._tracing = tracing
        self._files = files
        self._caller = caller
        self._lines = BatchLines(db)
        self.concurrency = concurrency

    async def run(self, lease: JobLease) -> None:
        job = lease.job
        if job.status is JobStatus.QUEUED:
            await asyncio.to_thread(
                lease.store.transition, job.id, JobStatus.RUNNING, only_from=[JobStatus.QUEUED]
            )
        deadline = job.deadline
        expired = deadline is not None and utcnow() >= deadline
        if not (lease.cancel_requested or expired):
            pending = await asyncio.to_thread(self._lines.pending, job.id)
            await self._run_lines(lease, pending)
            expired = deadline is not None and utcnow() >= deadline
        if lease.lost:
            return
        remaining = await asyncio.to_thread(self._lines.pending, job.id)
        if not remaining:
            status = JobStatus.CANCELLED if lease.cancel_requested else JobStatus.SUCCESS
        elif lease.cancel_requested:
            status = JobStatus.CANCELLED
        elif expired:
            status = JobStatus.TIMEOUT_EXCEEDED
        else:
            raise RuntimeError(f"{len(remaining)} lines of batch job {job.id} were left unrun")
        await lease.finish(status, await self._write_results(lease))

    async def _run_lines(self, lease: JobLease, pending: list[PendingLine]) -> None:
        """Run ``pending``, ``concurrency`` lines at a time, until they are all answered or the
        job is to stop. A stop cancels the lines in flight at once: their engine sequences,
        running or queued, are cancelled with them, and they stay pending."""
        job = lease.job
        endpoint = job.spec["endpoint"]
        # Lines are neither metered nor billed under --no-auth (no accounts), nor for a job
        # made there (no key) and run by a server with keys.
        accounts, key_id = self._accounts, job.key_id
        key = None
        if accounts is not None and key_id is not None:
            key = await asyncio.to_thread(accounts.keys.get, key_id)
        queue = iter(by_shared_prefix(pending))
        # Answers being written: a stop never interrupts one, so a line is answered (and
        # billed) whole or not at all, and the job's results are read after the last one.
        writes: set[asyncio.Task[bool]] = set()

        async def worker() -> None:
            # Workers share one iterator: each line is taken by exactly one of them.
            for line in queue:
                if lease.stopping or (job.deadline is not None and utcnow() >= job.deadline):
                    return
                while True:
                    meter = (
                        None
                        if accounts is None or key is None
                        else accounts.meter(key, endpoint, batch=True)
                    )
                    context = line_context(job.id, endpoint, key, job.workspace_id)
                    token = enter_request(context)
                    try:
                        with line_span(self._tracing, context, job.id, line.line) as span:
                            result = await self._caller.call(endpoint, line.body, job.model, meter)
                            if span is not None:
                                span.set_attribute("http.response.status_code", result.status_code)
                    finally:
                        leave_request(token)
                    if result.retry_after is None:
                        break
                    if lease.stopping:
                        return  # the line stays pending for whoever runs the job next
                    await asyncio.sleep(result.retry_after)
                record = None if meter is None else meter.record(result.status_code)
                await asyncio.to_thread(self._lines.answer, job.id, line.line, result, record)
                if self._request_log is not None:
                    self._request_log.log(settle_line(context, result, meter))

        workers = {asyncio.create_task(worker()) for _ in range(self.concurrency)}
        stop = asyncio.create_task(lease.until_stopping())
        running = set(workers)
        try:
            while running:
                done, running = await asyncio.wait(
                    running | {stop}, return_when=asyncio.FIRST_COMPLETED
                )
                if stop in done:
                    break
                running.discard(stop)
                for task in done:
                    task.result()  # a bug in a worker fails the job
        finally:
            stop.cancel()
            for task in workers:
                task.cancel()
            await asyncio.wait([stop, *workers, *writes])
            for write in writes:
                write.result()

    async def _write_results(self, lease: JobLease) -> dict[str, Any]:
        job = lease.job
        results = await asyncio.to_thread(self._lines.results, job.id)
        ok = [line for succeeded, line in results if succeeded]
        failed = [line for succeeded, line in results if not succeeded]
        out: dict[str, Any] = {"output_file": None, "error_file": None}
        for lines, field, sample_type in (
            (ok, "output_file", "batch_result"),
            (failed, "error_file", "batch_error"),
        ):
            if lines:
                file = await self._files.create(
                    job.workspace_id,
                    _jsonl(lines),
                    filename=f"{job.id}_{'output' if field == 'output_file' else 'error'}.jsonl",
                    purpose="batch",
                    source="mistral",
                    sample_type=sample_type,
                    mimetype="application/jsonl",
                )
                out[field] = file.id
        out["errors"] = await asyncio.to_thread(self._lines.errors, job.id)
        log.info("batch job %s: %d lines succeeded, %d failed", job.id, len(ok), len(failed))
        return out
