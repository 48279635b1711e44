"""Celery tasks of the allocation app: thin wrappers over ``services`` taking ids."""

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

from costtrack.core.jobs import LeasedJobTask

from . import services

MAX_RETRIES = 5


@shared_task(
    bind=True,
    base=LeasedJobTask,
    name="allocation.run_allocation",
    max_retries=MAX_RETRIES,
    acks_late=True,
)
def run_allocation(self, run_id: int) -> str:
    """Compute a pending allocation run; returns its final status.

    A database error that may pass is retried with backoff; once the retries are spent the
    run is marked failed, so that no run stays pending for ever. Any other error fails the
    run at once (in the service).
    """
    try:
        return services.allocation_run_execute(run_id=run_id).status
    except services.TRANSIENT_ERRORS as exc:
        if self.request.retries >= self.max_retries:
            run = services.allocation_run_fail_after_retries(
                run_id=run_id, attempts=self.request.retries + 1, exc=exc
            )
            return run.status if run is not None else "pending"
        countdown = get_exponential_backoff_interval(
            factor=5, retries=self.request.retries, maximum=300, full_jitter=True
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(
    name="allocation.reconvert_revenue",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
    acks_late=True,
)
def reconvert_revenue(currency: str | None = None, since: str | None = None) -> int:
    """Recompute revenue's reporting amounts after exchange rates changed (``since``: ISO)."""
    from datetime import date

    return services.revenue_reconvert(
        currency=currency, since=date.fromisoformat(since) if since else None
    )
