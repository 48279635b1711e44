"""Celery wrapper for API uploads: run one queued import by id (a leased job: a worker
that dies mid-import leaves a batch the reaper hands over again; the import is one
transaction, so it runs again from the start)."""

from celery import shared_task
from django.db import OperationalError

from costtrack.core.jobs import LeasedJobTask


class _ImportTask(LeasedJobTask):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        # Called once the retries are spent (not for each retry): the batch must not stay
        # "queued" or "running" for good.
        from .services import import_retries_exhausted

        batch_id = args[0] if args else kwargs.get("batch_id")
        if batch_id is not None:
            import_retries_exhausted(batch_id, exc)


@shared_task(
    base=_ImportTask,
    name="costs.run_import",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def run_import(batch_id: int) -> str:
    """Run the queued import ``batch_id``; returns its final status."""
    from ..models import ImportBatch
    from .services import import_run

    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        return "missing"
    return import_run(batch=batch).status


__all__ = ["run_import"]
