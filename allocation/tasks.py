"""Celery tasks of the allocation app: thin wrappers over ``services`` taking ids."""

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(
    name="allocation.run_allocation",
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
)
def run_allocation(run_id: int) -> str:
    """Compute a pending allocation run; returns its final status."""
    return services.allocation_run_execute(run_id=run_id).status
