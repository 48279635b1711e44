"""Asking for allocation runs: a request writes a pending run and its job (the outbox of
``costtrack.core.jobs``); a worker computes it (``runs.allocation_run_execute``). A run
whose worker died is handed over again, by the reaper or by the next request of its period.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from costtrack.core.jobs import job_enqueue, jobs_live_keys, lease_seconds
from costtrack.core.money import reporting_currency

from ..models import AllocationRun
from .graph import check_can_change
from .runs import _check_period, _request_lock

RUN_TASK = "allocation.run_allocation"


def run_job_key(run_id: int) -> str:
    return f"{RUN_TASK}:{run_id}"


def allocation_run_enqueue(*, run_id: int):
    """Record the job that computes run ``run_id``, in the caller's transaction. A live job
    of the run is kept; one whose worker died (lease expired) is handed over again."""
    return job_enqueue(task=RUN_TASK, args=[run_id], key=run_job_key(run_id))


@transaction.atomic
def allocation_run_request(
    *, period_start: date, period_end: date, acting_user=None
) -> tuple[AllocationRun, bool]:
    """Ask for a run of the period; returns ``(run, queued)``. Loads nothing of the period.

    When the period already has a run ``pending`` or ``running``, that run is returned and
    nothing new is written (``queued`` is false) — unless nothing is working on it any more
    (its job is done or failed, or its worker died: the lease expired), then its job is
    handed over again in this transaction, so a dead run is never simply returned.
    Otherwise a ``pending`` run is written with its job (``allocation.run_allocation``).
    Requests for one period queue on a lock, so concurrent requests write one run.
    """
    check_can_change(acting_user)
    _check_period(period_start, period_end)
    _request_lock(period_start, period_end)
    in_flight = (
        AllocationRun.objects.filter(
            period_start=period_start,
            period_end=period_end,
            status__in=[AllocationRun.Status.PENDING, AllocationRun.Status.RUNNING],
        )
        .order_by("-id")
        .first()
    )
    if in_flight is not None:
        allocation_run_enqueue(run_id=in_flight.pk)
        return in_flight, False
    run = AllocationRun(
        period_start=period_start,
        period_end=period_end,
        currency=reporting_currency(),
        created_by=acting_user,
    )
    run.full_clean()
    run.save()
    allocation_run_enqueue(run_id=run.pk)
    return run, True


def allocation_runs_reap(*, now=None) -> int:
    """Reaper: give a job to every unfinished run that has none live and that no worker
    holds (its row is not locked) — e.g. a job that failed while writing its end. Returns
    how many were enqueued."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=lease_seconds())
    with transaction.atomic():
        ids = list(
            AllocationRun.objects.select_for_update(skip_locked=True)
            .filter(
                status__in=[AllocationRun.Status.PENDING, AllocationRun.Status.RUNNING],
                created_at__lt=grace,
            )
            .values_list("pk", flat=True)[:100]
        )
        live = jobs_live_keys(run_job_key(pk) for pk in ids)
        stalled = [pk for pk in ids if run_job_key(pk) not in live]
        for pk in stalled:
            allocation_run_enqueue(run_id=pk)
    return len(stalled)
