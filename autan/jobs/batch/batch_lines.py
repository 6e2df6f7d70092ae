"""The lines of batch jobs in the database, and the per-line checkpoint.

``answer`` marks a line done, stores its answer, bumps the job's counters and writes the
line's usage record in one transaction, guarded by ``done = false``: a line answered twice
(a worker presumed dead that was only slow) keeps its first answer and is billed once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from autan.accounts.usage_ledger import UsageRecord
from autan.accounts.usage_rollup import add_to_rollups
from autan.jobs.batch.batch_caller import LineResult
from autan.jobs.batch.batch_input import BatchInputLine
from autan.protocol.errors import error_body
from autan.storage.database import Database
from autan.storage.job_tables import BatchLineRow, JobRow
from autan.storage.tables import UsageRow


@dataclass(frozen=True, slots=True)
class PendingLine:
    line: int
    custom_id: str | None
    body: dict[str, Any]


def insert_lines(session: Session, job_id: str, lines: Sequence[BatchInputLine]) -> None:
    """Add a new job's lines; invalid ones are answered (400) right away."""
    rows = [
        {
            "job_id": job_id,
            "line": i,
            "custom_id": line.custom_id,
            "body": line.body,
            "invalid": line.invalid,
            "done": line.invalid is not None,
            "status_code": None if line.invalid is None else 400,
            "response": None,
            "error": line.invalid,
        }
        for i, line in enumerate(lines)
    ]
    if rows:
        session.execute(insert(BatchLineRow), rows)


def result_line(job_id: str, row: BatchLineRow) -> dict[str, Any]:
    """The line as the output or error file holds it. Its id is derived from the job and the
    line, so a file written again after a restart says the same."""
    line_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"autan:batch:{job_id}:{row.line}")
    ok = row.status_code == 200
    response = None
    if row.status_code is not None:
        body = row.response
        if body is None:
            body = error_body(row.error or "", "invalid_request_error", code="invalid_batch_line")
        response = {"status_code": row.status_code, "body": body}
    return {
        "id": f"batch-{job_id[:8]}-{row.line + 1}-{line_uuid}",
        "custom_id": row.custom_id if row.custom_id is not None else str(row.line),
        "response": response,
        "error": None if ok else {"message": row.error, "code": row.status_code},
    }


class BatchLines:
    def __init__(self, db: Database) -> None:
        self._db = db

    def pending(self, job_id: str) -> list[PendingLine]:
        with self._db.session() as session:
            rows = session.scalars(
                select(BatchLineRow)
                .where(BatchLineRow.job_id == job_id, ~BatchLineRow.done)
                .order_by(BatchLineRow.line)
            )
            return [PendingLine(r.line, r.custom_id, r.body or {}) for r in rows]

    def answer(self, job_id: str, line: int, result: LineResult, usage: UsageRecord | None) -> bool:
        """Checkpoint one line; False (nothing written) when it was already answered."""
        with self._db.session() as session, session.begin():
            marked = session.execute(
                update(BatchLineRow)
                .where(
                    BatchLineRow.job_id == job_id,
                    BatchLineRow.line == line,
                    ~BatchLineRow.done,
                )
                .values(
                    done=True,
                    status_code=result.status_code,
                    response=result.body,
                    error=result.error,
                )
                .execution_options(synchronize_session=False)
            )
            if marked.rowcount != 1:  # type: ignore[attr-defined]
                return False
            counter = JobRow.succeeded_items if result.ok else JobRow.failed_items
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values({counter: counter + 1})
                .execution_options(synchronize_session=False)
            )
            if usage is not None:
                session.execute(insert(UsageRow), [asdict(usage)])
                add_to_rollups(session, [usage])
            return True

    def results(self, job_id: str) -> list[tuple[bool, dict[str, Any]]]:
        """Every answered line in input order, as the files hold it, and whether it succeeded."""
        with self._db.session() as session:
            rows = session.scalars(
                select(BatchLineRow)
                .where(BatchLineRow.job_id == job_id, BatchLineRow.done)
                .order_by(BatchLineRow.line)
            )
            return [(row.status_code == 200, result_line(job_id, row)) for row in rows]

    def errors(self, job_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """The distinct reasons lines failed, with how many lines each."""
        counts: dict[str, int] = {}
        with self._db.session() as session:
            for error in session.scalars(
                select(BatchLineRow.error).where(
                    BatchLineRow.job_id == job_id, BatchLineRow.error.is_not(None)
                )
            ):
                if error is None:
                    continue
                # Line-specific prefixes ("file X line 3: ...") would make every reason unique.
                reason = (
                    error.split(": ", 1)[1] if error.startswith(("file ", "request ")) else error
                )
                counts[reason] = counts.get(reason, 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
        return [{"message": m, "count": c} for m, c in ranked]
