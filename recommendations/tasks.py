"""Celery tasks of the recommendations app: thin wrappers over ``services``."""

from celery import shared_task
from django.db import OperationalError

from .triggers import COMPUTE_TASK


@shared_task(
    name=COMPUTE_TASK,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
    acks_late=True,
)
def compute() -> dict:
    """Recompute every recommendation and send the digest; returns the counts."""
    from .services import recommendations_compute

    return recommendations_compute().as_dict()
