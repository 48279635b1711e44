"""Writing jobs: ``job_enqueue`` / ``jobs_enqueue`` record work in the caller's transaction.

Nothing here talks to the broker. With a real broker the commit wakes the relay through
PostgreSQL ``NOTIFY`` (part of the transaction, it cannot block on Redis); with tasks run
eagerly (embedded mode, unit tests) the jobs run in-process right after commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from celery import current_app
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from costtrack.core.models import Job, JobState

from .settings import LEASED, LIVE

WAKE_CHANNEL = "costtrack_jobs"


@dataclass(frozen=True)
class JobSpec:
    """One job to write: a Celery task by name, JSON arguments, an optional key."""

    task: str
    args: Sequence[Any] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    key: str = ""


def runs_eagerly() -> bool:
    return bool(current_app.conf.task_always_eager)


_HELD: ContextVar[bool] = ContextVar("costtrack_jobs_held", default=False)


@contextmanager
def jobs_held() -> Iterator[None]:
    """Jobs recorded inside the block are written as always but neither run in-process nor
    announced to the relay at commit (the dispatcher's next pass still finds them): for a
    benchmark that times the writes in a throwaway schema and not the work they cause."""
    token = _HELD.set(True)
    try:
        yield
    finally:
        _HELD.reset(token)


def _wake_after_commit(ids: list[int]) -> None:
    if not ids or _HELD.get():
        return
    if runs_eagerly():
        from .dispatch import jobs_run_eagerly

        transaction.on_commit(partial(jobs_run_eagerly, ids=ids))
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [WAKE_CHANNEL])


def _revive(job: Job) -> None:
    """A live job whose lease ran out is handed over again now, as the reaper would."""
    if job.state in LEASED and job.lease_expires_at and job.lease_expires_at < timezone.now():
        job.state = JobState.PENDING
        job.available_at = timezone.now()
        job.worker = ""
        job.lease_expires_at = None
        job.save(update_fields=["state", "available_at", "worker", "lease_expires_at"])


def _insert_keyed(spec: JobSpec) -> int | None:
    """Insert a keyed job unless a live one has the key: one statement on PostgreSQL
    (``ON CONFLICT DO NOTHING`` on the partial unique index), a savepoint elsewhere."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        job = Job(task=spec.task, args=list(spec.args), kwargs=dict(spec.kwargs), key=spec.key)
        try:
            with transaction.atomic():
                job.save()
        except IntegrityError:
            return None
        return job.pk
    table = connection.ops.quote_name(Job._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (task, args, kwargs, key, state, created_at, "  # noqa: S608  # nosec B608
            "available_at, dispatches, claims, worker, last_error) "
            "VALUES (%s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, 0, 0, '', '') "
            "ON CONFLICT DO NOTHING RETURNING id",
            [
                spec.task,
                json.dumps(list(spec.args)),
                json.dumps(dict(spec.kwargs)),
                spec.key,
                JobState.PENDING,
                now,
                now,
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _enqueue_keyed(spec: JobSpec) -> tuple[int, bool]:
    """The id of the live job of ``spec.key`` (written now if there was none) and whether
    it is to be handed over (new, or revived after its lease expired)."""
    pk = _insert_keyed(spec)
    if pk is not None:
        return pk, True
    # SKIP LOCKED: a row the dispatcher holds while a slow broker answers is being handed
    # over already; a request never waits for it.
    live = Job.objects.filter(key=spec.key, state__in=LIVE)
    existing = live.select_for_update(skip_locked=True).first()
    if existing is None:
        held = live.values_list("pk", flat=True).first()
        if held is not None:
            return held, False
        return _enqueue_keyed(spec)  # it finished between the insert and this read
    before = existing.state
    _revive(existing)
    return existing.pk, before != existing.state


def jobs_enqueue(specs: Iterable[JobSpec]) -> list[int]:
    """Record ``specs`` in the current transaction; they are handed to Celery after commit.

    A spec with a ``key`` for which a live job (pending, queued or running) exists writes
    nothing and stands for that job (handed over again if its lease has expired). Returns
    the job ids, in the order of ``specs``.
    """
    specs = list(specs)
    if not specs:
        return []
    with transaction.atomic(savepoint=False):
        keyless = [
            Job(task=s.task, args=list(s.args), kwargs=dict(s.kwargs)) for s in specs if not s.key
        ]
        created = iter(Job.objects.bulk_create(keyless) if keyless else [])
        ids, woken = [], []
        for spec in specs:
            if spec.key:
                pk, wake = _enqueue_keyed(spec)
            else:
                pk, wake = next(created).pk, True
            ids.append(pk)
            if wake:
                woken.append(pk)
        _wake_after_commit(woken)
    return ids


def job_enqueue(
    *, task: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, key: str = ""
) -> int:
    """Record one job (see ``jobs_enqueue``): ``task`` is a Celery task name, ``args`` and
    ``kwargs`` plain JSON values, ``key`` names what it works on (one live job per key).
    Returns the job id."""
    (pk,) = jobs_enqueue([JobSpec(task=task, args=args, kwargs=kwargs or {}, key=key)])
    return pk


def jobs_live_keys(keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` have a live job whose lease (if any) has not expired."""
    keys = [k for k in keys if k]
    if not keys:
        return set()
    now = timezone.now()
    rows = Job.objects.filter(key__in=keys, state__in=LIVE).values_list(
        "key", "state", "lease_expires_at"
    )
    return {
        key
        for key, state, lease in rows
        if state == JobState.PENDING or lease is None or lease >= now
    }
