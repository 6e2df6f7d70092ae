"""The job runner: claims jobs of the kinds registered with it (batch, fine-tuning) and runs
them on the event loop, up to ``max_jobs`` of a kind at once (oldest first), so that one long
job does not hold every other back. Every database call runs in a thread, off the loop.

While a job runs, a heartbeat renews its lease every third of the lease time and reads its
status back: a cancel request reaches the job through ``JobLease.cancel_requested``, and a lost
lease (this process was presumed dead and another took over) stops the job at once. A process
that dies simply stops renewing; once the lease runs out another worker resumes the job from
its checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from typing import Protocol

from autan.jobs.job import Job, JobStatus
from autan.jobs.job_store import JobStore

log = logging.getLogger(__name__)


class JobLease:
    """A claimed job, as its kind sees it while running it."""

    def __init__(self, store: JobStore, job: Job, owner: str) -> None:
        self.store = store
        self.job = job
        self.owner = owner
        self._stop = asyncio.Event()
        self._cancel_requested = False
        self._lost = False
        self.cancel_requested = job.status is JobStatus.CANCELLATION_REQUESTED

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    @cancel_requested.setter
    def cancel_requested(self, value: bool) -> None:
        self._cancel_requested = value
        if value:
            self._stop.set()

    @property
    def lost(self) -> bool:
        return self._lost

    @lost.setter
    def lost(self, value: bool) -> None:
        self._lost = value
        if value:
            self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._cancel_requested or self._lost

    async def until_stopping(self) -> None:
        """Return once the job is to stop (cancelled, or its lease lost): what work in flight
        waits on, to be cancelled at once rather than at its end."""
        await self._stop.wait()

    async def finish(self, status: JobStatus, result: dict[str, object]) -> None:
        await asyncio.to_thread(self.store.finish, self.job.id, self.owner, status, result)


class JobKind(Protocol):
    """One kind of job (``batch``, ``fine_tuning``)."""

    name: str

    async def run(self, lease: JobLease) -> None:
        """Carry the job on from its last checkpoint and end it (``lease.finish``, or a status
        change to an end status). Return early, unfinished, when ``lease.lost`` turns true;
        return unfinished too when the job is to wait (the runner lets its lease go)."""
        ...


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        kinds: Sequence[JobKind],
        *,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        max_jobs: int = 1,
    ) -> None:
        self.store = store
        self.kinds = {k.name: k for k in kinds}
        self._limits = {k.name: max_jobs for k in kinds}
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.max_jobs = max_jobs
        self._jobs: set[asyncio.Task[None]] = set()
        self.owner = f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop_of_task: asyncio.AbstractEventLoop | None = None
        self._running: dict[str, JobLease] = {}
        # Cancels requested here for jobs not (yet) running here: a job claimed while its
        # cancel was on the way must still see it before its first heartbeat.
        self._cancels: set[str] = set()

    def add(self, kind: JobKind, *, max_jobs: int | None = None) -> None:
        """Run jobs of ``kind`` too, at most ``max_jobs`` at once (else the runner's
        ``max_jobs``). Before ``start``."""
        assert self._task is None, "kinds are added before the runner starts"
        self.kinds[kind.name] = kind
        self._limits[kind.name] = max_jobs or self.max_jobs

    def start(self) -> None:
        self._loop_of_task = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._loop(), name="autan-job-runner")

    def wake(self) -> None:
        """A job was just created or cancelled: look now rather than at the next poll. Safe
        from any thread."""
        if self._loop_of_task is not None:
            self._loop_of_task.call_soon_threadsafe(self._wake.set)

    def cancelled(self, job_id: str) -> None:
        """A cancel was just requested here: a job this process runs stops now rather than at
        its next heartbeat (which is how cancels from other processes arrive). Any thread."""
        if self._loop_of_task is not None:
            self._loop_of_task.call_soon_threadsafe(self._mark_cancelled, job_id)

    def _mark_cancelled(self, job_id: str) -> None:
        lease = self._running.get(job_id)
        if lease is not None:
            lease.cancel_requested = True
        else:
            self._cancels.add(job_id)

    async def close(self) -> None:
        """Stop claiming, and hand the jobs running here back to the store at once."""
        tasks = [t for t in (self._task, *self._jobs) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        for job_id in list(self._running):  # claimed, but cancelled before it began
            await asyncio.to_thread(self.store.release, job_id, self.owner)
            del self._running[job_id]

    def _kinds_with_room(self) -> list[str]:
        running = [lease.job.kind for lease in self._running.values()]
        return [k for k, limit in self._limits.items() if running.count(k) < limit]

    async def _loop(self) -> None:
        while True:
            kinds = self._kinds_with_room()
            if not kinds:
                await asyncio.wait(self._jobs, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                job = await self._claim(kinds)
            except Exception:
                log.exception("claiming a job failed; retrying")
                job = None
            if job is None:
                self._cancels.clear()  # any job claimed from now on reads its cancel from the store
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                continue
            # The lease is registered before the task starts: a cancel arriving in between
            # finds it rather than the set of cancels the next empty claim clears.
            task = asyncio.create_task(self._run(self._lease(job)), name=f"autan-job-{job.id}")
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)

    async def _claim(self, kinds: list[str]) -> Job | None:
        """A job of one of ``kinds``, leased to this runner, or None. Stopped meanwhile, the
        runner waits for the claim's thread (it holds a database connection the database's
        close must find returned) and hands back what it claimed."""
        claim = asyncio.ensure_future(
            asyncio.to_thread(self.store.claim, kinds, self.owner, self.lease_seconds)
        )
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                job = await claim
                if job is not None:
                    await asyncio.to_thread(self.store.release, job.id, self.owner)
            raise

    async def run_one(self, job: Job) -> None:
        """Run ``job``, claimed by this runner, to its end (or until the runner stops)."""
        await self._run(self._lease(job))

    def _lease(self, job: Job) -> JobLease:
        lease = JobLease(self.store, job, self.owner)
        if job.id in self._cancels:
            self._cancels.discard(job.id)
            lease.cancel_requested = True
        self._running[job.id] = lease
        return lease

    async def _run(self, lease: JobLease) -> None:
        job = lease.job
        log.info("running %s job %s (attempt %d)", job.kind, job.id, job.attempts)
        work = asyncio.create_task(self.kinds[job.kind].run(lease))
        beat = asyncio.create_task(self._heartbeat(lease, work))
        try:
            await work
            # Left unfinished on purpose (waiting for its start): free for whoever looks next.
            await asyncio.to_thread(self.store.release, job.id, self.owner)
        except asyncio.CancelledError:
            if not lease.lost:  # the runner itself is stopping: hand the job on at once
                await asyncio.to_thread(self.store.release, job.id, self.owner)
                raise
        except Exception as e:
            log.exception("%s job %s failed", job.kind, job.id)
            await lease.finish(JobStatus.FAILED, {"errors": [{"message": str(e), "count": 1}]})
        finally:
            del self._running[job.id]
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _heartbeat(self, lease: JobLease, work: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                status = await asyncio.to_thread(
                    self.store.renew, lease.job.id, self.owner, self.lease_seconds
                )
            except Exception:
                log.exception("renewing the lease of job %s failed", lease.job.id)
                continue
            if status is None:
                log.warning(
                    "lost the lease of job %s: another worker took it, or it ended elsewhere",
                    lease.job.id,
                )
                lease.lost = True
                work.cancel()
                return
            if status is JobStatus.CANCELLATION_REQUESTED:
                lease.cancel_requested = True
