"""Queueing a recomputation after the lower apps' work (hooks registered in ``apps.py``).

The job is recorded in the transaction of the import or run that causes it (the outbox of
``costtrack.core.jobs``): it exists only if that work commits, and one keyed job stands for
every request made while it waits.
"""

from django.conf import settings

from costtrack.core.jobs import job_enqueue

COMPUTE_TASK = "recommendations.compute"
COMPUTE_JOB_KEY = COMPUTE_TASK


def recommendations_enqueue() -> int:
    """Record a recomputation job in the caller's transaction; returns its id."""
    return job_enqueue(task=COMPUTE_TASK, key=COMPUTE_JOB_KEY)


def _auto() -> bool:
    return bool(getattr(settings, "COSTTRACK_RECOMMENDATIONS_AUTO", True))


def queue_after_import(*, batch) -> None:
    if _auto():
        recommendations_enqueue()


def queue_after_allocation_run(*, run) -> None:
    if _auto():
        recommendations_enqueue()
