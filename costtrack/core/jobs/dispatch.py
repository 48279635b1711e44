"""Handing jobs to Celery (the dispatcher) and taking back those whose worker died (the
reaper). Both run outside requests: in the relay process, on the beat, or by command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from celery import current_app
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from costtrack.core.models import Job, JobState

from .settings import LEASED, batch_size, queue_lease_seconds, retry_seconds

logger = logging.getLogger(__name__)

TASK_ID_PREFIX = "job-"

Reaper = Callable[..., int]
_reapers: dict[str, Reaper] = {}


def task_id_for(job: Job) -> str:
    return f"{TASK_ID_PREFIX}{job.pk}-{job.dispatches}"


def job_id_of(task_id: str | None) -> int | None:
    """The job a Celery task id was given for, or ``None`` for a task sent otherwise."""
    if not task_id or not task_id.startswith(TASK_ID_PREFIX):
        return None
    number = task_id[len(TASK_ID_PREFIX) :].split("-", 1)[0]
    return int(number) if number.isdigit() else None


def task_named(name: str):
    """The registered Celery task ``name``, importing the apps' task modules first when
    this process has not yet (a web or relay process loads them only when needed)."""
    app = current_app
    task = app.tasks.get(name)
    if task is None:
        app.loader.import_default_modules()
        task = app.tasks.get(name)
    return task


def _is_leased(task) -> bool:
    return bool(getattr(task, "job_lease", False))


def _handed_over(job: Job, task, now) -> None:
    job.dispatched_at = now
    job.last_error = ""
    if _is_leased(task):
        job.state = JobState.QUEUED
        job.lease_expires_at = now + timedelta(seconds=queue_lease_seconds())
    else:
        job.state = JobState.DONE
        job.finished_at = now


def _refused(job: Job, error: str, now, *, retry: bool = True) -> None:
    job.last_error = error[:2000]
    if retry:
        job.available_at = now + timedelta(seconds=retry_seconds())
    else:
        job.state = JobState.FAILED
        job.finished_at = now


def _publish(jobs: list[Job], now) -> int:
    """Send ``jobs`` over one broker connection; stop at the first error (the broker is
    down or slow: the rest wait for the next round). Returns how many were sent."""
    app = current_app
    sent = 0
    # a connection of the round's own: one that failed mid-way is not given to the next
    with app.connection_for_write() as conn:
        producer = app.amqp.Producer(conn)
        for job in jobs:
            task = task_named(job.task)
            if task is None:
                _refused(job, f"No task named {job.task!r} is registered.", now, retry=False)
                continue
            job.dispatches += 1
            try:
                task.apply_async(
                    args=job.args,
                    kwargs=job.kwargs,
                    task_id=task_id_for(job),
                    producer=producer,
                    retry=False,
                )
            except Exception as exc:
                job.dispatches -= 1
                logger.warning("The broker refused job %s: %s", job.pk, exc)
                for waiting in jobs[jobs.index(job) :]:
                    _refused(waiting, f"Broker: {type(exc).__name__}: {exc}", now)
                break
            _handed_over(job, task, now)
            sent += 1
    return sent


UPDATED = ["state", "dispatched_at", "dispatches", "lease_expires_at", "finished_at"]


def jobs_dispatch(*, limit: int | None = None) -> int:
    """Hand the due ``pending`` jobs to the broker, oldest first, at most ``limit`` (the
    batch size) in one round over one connection. Rows are locked ``SKIP LOCKED`` so that
    several dispatchers share the work and never send one row twice in a round. A job the
    broker refuses stays pending and is tried again ``COSTTRACK_JOB_RETRY_SECONDS`` later.
    Returns the number handed over. With tasks run eagerly, runs them here instead.
    """
    now = timezone.now()
    with transaction.atomic():
        jobs = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(state=JobState.PENDING, available_at__lte=now)
            .order_by("available_at", "id")[: limit or batch_size()]
        )
        if not jobs:
            return 0
        if current_app.conf.task_always_eager:
            ids = [job.pk for job in jobs]
        else:
            sent = _publish(jobs, now)
            Job.objects.bulk_update(jobs, [*UPDATED, "available_at", "last_error"])
            return sent
    return jobs_run_eagerly(ids=ids)


def jobs_run_eagerly(*, ids: list[int]) -> int:
    """Run the pending jobs ``ids`` in this process, one by one, outside any transaction of
    their own (embedded mode and unit tests: ``CELERY_TASK_ALWAYS_EAGER``). A job whose task
    raises is logged and left pending for a later dispatch, as with a broker outage."""
    ran = 0
    for pk in ids:
        now = timezone.now()
        if not Job.objects.filter(pk=pk, state=JobState.PENDING).update(
            state=JobState.QUEUED, dispatches=F("dispatches") + 1, dispatched_at=now
        ):
            continue
        job = Job.objects.get(pk=pk)
        task = task_named(job.task)
        if task is None:
            Job.objects.filter(pk=pk).update(
                state=JobState.FAILED, finished_at=now, last_error=f"No task {job.task!r}."
            )
            continue
        try:
            task.apply_async(args=job.args, kwargs=job.kwargs, task_id=task_id_for(job))
        except Exception as exc:
            logger.warning("Job %s (%s) failed in-process: %s", pk, job.task, exc, exc_info=True)
            Job.objects.filter(pk=pk, state=JobState.QUEUED).update(
                state=JobState.PENDING,
                available_at=timezone.now() + timedelta(seconds=retry_seconds()),
                last_error=f"{type(exc).__name__}: {exc}"[:2000],
            )
            continue
        Job.objects.filter(pk=pk, state=JobState.QUEUED).update(
            state=JobState.DONE, finished_at=timezone.now()
        )
        ran += 1
    return ran


def register_reaper(name: str, reaper: Reaper) -> None:
    """Let an app take back its own stalled work: ``reaper(now=...)`` is called on every
    reap and returns how many jobs it enqueued (e.g. a record left ``running`` with no live
    job). Registered in ``AppConfig.ready``; registering a name again replaces it."""
    _reapers[name] = reaper


def _reap_expired(now) -> int:
    with transaction.atomic():
        ids = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(state__in=LEASED, lease_expires_at__lt=now)
            .values_list("pk", flat=True)
        )
        return Job.objects.filter(pk__in=ids).update(
            state=JobState.PENDING, available_at=now, worker="", lease_expires_at=None
        )


def jobs_reap(*, now=None) -> dict[str, int]:
    """Hand over again every job whose lease expired (its worker died, or its message was
    lost), then run the apps' reapers. Returns the count per reaper (``jobs``: expired)."""
    now = now or timezone.now()
    counts = {"jobs": _reap_expired(now)}
    for name, reaper in _reapers.items():
        try:
            counts[name] = reaper(now=now)
        except Exception:
            logger.exception("Reaper %s failed; it runs again next time.", name)
    if counts["jobs"]:
        logger.warning("Re-queued %s job(s) whose lease expired.", counts["jobs"])
    return counts
