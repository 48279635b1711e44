"""Leased jobs: a worker claims the job before running its task and keeps a heartbeat on
it while it runs; a job whose heartbeat stops (the worker was killed) is handed over again
by the reaper once its lease expires, and a message delivered again after the job is done
does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from celery import Task
from celery.exceptions import Retry
from django.db import connections, transaction
from django.utils import timezone

from costtrack.core.models import Job, JobState

from .dispatch import job_id_of
from .settings import lease_seconds, max_claims, queue_lease_seconds

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_gone(worker: str) -> bool:
    """A claim by a process of this host that no longer exists (a killed pool child)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _holder_alive(job: Job, now) -> bool:
    if job.lease_expires_at is not None and job.lease_expires_at < now:
        return False
    return not _pid_gone(job.worker)


def job_claim(*, job_id: int) -> str | None:
    """Claim ``job_id`` for this process; returns the claim's worker name, or ``None`` when
    the job is finished, held by a live worker, or has been claimed ``max_claims()`` times
    already (then it is failed: a job that keeps killing its workers is not run again)."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state in (JobState.DONE, JobState.FAILED):
            return None
        if job.state == JobState.RUNNING and _holder_alive(job, now):
            return None
        if job.claims >= max_claims():
            job.state = JobState.FAILED
            job.finished_at = now
            job.last_error = f"Its worker died {job.claims} times; not run again."
            job.save(update_fields=["state", "finished_at", "last_error"])
            logger.error("Job %s failed: %s", job.pk, job.last_error)
            return None
        job.state = JobState.RUNNING
        job.claims += 1
        job.worker = worker_name()
        job.lease_expires_at = now + timedelta(seconds=lease_seconds())
        job.save(update_fields=["state", "claims", "worker", "lease_expires_at"])
        return job.worker


def job_finish(*, job_id: int, worker: str, error: str = "") -> None:
    """Record the end of a claimed job: ``done``, or ``failed`` with ``error``."""
    Job.objects.filter(pk=job_id, state=JobState.RUNNING, worker=worker).update(
        state=JobState.FAILED if error else JobState.DONE,
        finished_at=timezone.now(),
        last_error=error[:2000],
        lease_expires_at=None,
    )


def job_retry_later(*, job_id: int, worker: str, when) -> None:
    """The task asked Celery to retry it: the job waits for that message (queued), leased
    for the countdown plus the queue lease. An orderly retry is not a death: ``claims``
    starts again from zero."""
    now = timezone.now()
    eta = now + timedelta(seconds=when) if isinstance(when, int | float) else when or now
    Job.objects.filter(pk=job_id, state=JobState.RUNNING, worker=worker).update(
        state=JobState.QUEUED,
        worker="",
        claims=0,
        lease_expires_at=max(eta, now) + timedelta(seconds=queue_lease_seconds()),
    )


class Heartbeat(threading.Thread):
    """Extends the lease of a running job every third of the lease, on its own connection,
    until stopped; dies with its process, which is the point."""

    def __init__(self, job_id: int, worker: str):
        super().__init__(name=f"job-{job_id}-heartbeat", daemon=True)
        self.job_id, self.worker = job_id, worker
        self._stopped = threading.Event()

    def run(self) -> None:
        interval = max(lease_seconds() / 3, 0.2)
        try:
            while not self._stopped.wait(interval):
                try:
                    Job.objects.filter(
                        pk=self.job_id, state=JobState.RUNNING, worker=self.worker
                    ).update(lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds()))
                except Exception:
                    logger.warning("Heartbeat of job %s failed", self.job_id, exc_info=True)
                    connections.close_all()
        finally:
            connections.close_all()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


class LeasedJobTask(Task):
    """Base of tasks sent as leased jobs (long work a dead worker must not lose: imports,
    allocation runs, period closes). The task body must be idempotent: after a worker died
    it runs again from the start. Called other than as a job (``apply`` in a test, a plain
    ``delay``), it simply runs."""

    job_lease = True

    def __call__(self, *args, **kwargs):
        job_id = job_id_of(self.request.id)
        if job_id is None or self.request.is_eager:
            # in-process (eager) jobs have no worker to lose: jobs_run_eagerly records them
            return super().__call__(*args, **kwargs)
        worker = job_claim(job_id=job_id)
        if worker is None:
            logger.info("Job %s is done or held by a live worker; this message is dropped.", job_id)
            return None
        heartbeat = Heartbeat(job_id, worker)
        heartbeat.start()
        try:
            result = super().__call__(*args, **kwargs)
        except Retry as exc:
            job_retry_later(job_id=job_id, worker=worker, when=exc.when)
            raise
        except BaseException as exc:
            job_finish(job_id=job_id, worker=worker, error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            heartbeat.stop()
        job_finish(job_id=job_id, worker=worker)
        return result
