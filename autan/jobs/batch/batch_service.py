"""Batch jobs as the API sees them: created from files or inline requests, listed, cancelled.

Running them is ``BatchExecutor``'s part, through the job runner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from autan.errors import InvalidRequest
from autan.files.file_store import FileStore
from autan.jobs.batch.batch_caller import BatchCaller
from autan.jobs.batch.batch_input import BatchInputLine, parse_jsonl
from autan.jobs.batch.batch_lines import BatchLines, insert_lines
from autan.jobs.job import Job
from autan.jobs.job_store import JobFilter, JobStore, new_job
from autan.protocol.batch import BatchJobCreate
from autan.storage.tables import utcnow

KIND = "batch"
MAX_CUSTOM_ID = 512


def _checked(line: BatchInputLine) -> BatchInputLine:
    if line.custom_id is not None and len(line.custom_id) > MAX_CUSTOM_ID:
        reason = f"custom_id is {len(line.custom_id)} characters; at most {MAX_CUSTOM_ID}"
        return BatchInputLine(line.custom_id[:MAX_CUSTOM_ID], None, reason)
    return line


class BatchService:
    def __init__(
        self,
        jobs: JobStore,
        files: FileStore,
        caller: BatchCaller,
        *,
        on_created: Callable[[], None] = lambda: None,
        on_cancelled: Callable[[str], None] = lambda job_id: None,
    ) -> None:
        self.jobs = jobs
        self.files = files
        self.lines = BatchLines(jobs.db)
        self._caller = caller
        self._on_created = on_created
        self._on_cancelled = on_cancelled

    def _input_lines(
        self, workspace_id: str, key_id: str, req: BatchJobCreate
    ) -> list[BatchInputLine]:
        if bool(req.input_files) == bool(req.requests):
            raise InvalidRequest(
                "Give either input_files or requests (inline), not both and not neither",
                param="input_files",
            )
        if req.requests:
            return [BatchInputLine(r.custom_id, r.body) for r in req.requests]
        lines: list[BatchInputLine] = []
        for file_id in req.input_files or ():
            file = self.files.get(workspace_id, file_id, key_id=key_id)
            if file.purpose != "batch":
                raise InvalidRequest(
                    f"File {file_id} was uploaded with purpose '{file.purpose}'; batch input "
                    "files need purpose 'batch'",
                    param="input_files",
                )
            lines += parse_jsonl(self.files.content(file), file_id)
        return lines

    def create(self, workspace_id: str, key_id: str, req: BatchJobCreate) -> Job:
        """Check the request, read the input, and queue the job with all its lines."""
        if req.agent_id is not None:
            raise InvalidRequest("Agents are not served here; give a model", param="agent_id")
        self._caller.check(req.endpoint, req.model)
        lines = [_checked(line) for line in self._input_lines(workspace_id, key_id, req)]
        if not lines:
            raise InvalidRequest("The batch holds no request", param="input_files")
        runnable = [line for line in lines if line.invalid is None]
        if not runnable:
            raise InvalidRequest(
                f"No line of the batch input is a request; the first: {lines[0].invalid}. "
                'Each line must be a JSON object like {"custom_id": "0", "body": {...}}',
                param="input_files",
                code="invalid_batch_input",
            )
        if req.model is None:
            models = {line.body.get("model") for line in runnable if line.body is not None}
            if None in models:
                raise InvalidRequest(
                    "Give the job a model, or a model in every request body", param="model"
                )
            for model in models:
                self._caller.check(req.endpoint, str(model))
        row = new_job(
            KIND,
            workspace_id=workspace_id,
            key_id=key_id,
            model=req.model,
            metadata=req.metadata,
            spec={"endpoint": req.endpoint, "input_files": list(req.input_files or ())},
            total_items=len(lines),
            failed_items=len(lines) - len(runnable),
            deadline=utcnow() + timedelta(hours=req.timeout_hours),
        )
        job = self.jobs.create(row, lambda session: insert_lines(session, row.id, lines))
        self._on_created()
        return job

    def get(self, workspace_id: str, job_id: str) -> Job:
        return self.jobs.get(job_id, workspace_id=workspace_id, kind=KIND)

    def outputs(self, job: Job) -> list[dict[str, Any]]:
        """Every answered line, in input order (``GET ...?inline=true``)."""
        return [line for _, line in self.lines.results(job.id)]

    def page(
        self,
        workspace_id: str,
        *,
        statuses: Sequence[str] = (),
        model: str | None = None,
        metadata: dict[str, str] | None = None,
        created_after: Any = None,
        key_id: str | None = None,
        newest_first: bool = True,
        page: int = 0,
        page_size: int = 100,
    ) -> tuple[list[Job], int]:
        where = JobFilter(
            kind=KIND,
            statuses=statuses,
            model=model,
            created_after=created_after,
            metadata=metadata or {},
            key_id=key_id,
            newest_first=newest_first,
        )
        return self.jobs.page(workspace_id, where, page=page, page_size=page_size)

    def cancel(self, workspace_id: str, job_id: str) -> Job:
        job = self.jobs.request_cancel(job_id, workspace_id=workspace_id, kind=KIND)
        self._on_cancelled(job.id)
        self._on_created()  # a queued job is cancelled by the next worker that looks
        return job

    def delete(self, workspace_id: str, job_id: str) -> None:
        self.jobs.delete(job_id, workspace_id=workspace_id, kind=KIND)
