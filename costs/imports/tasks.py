"""Celery wrapper for API uploads: run one queued import by id."""

from celery import shared_task
from django.db import OperationalError


@shared_task(
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
