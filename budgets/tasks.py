"""Celery tasks of the budgets app: thin wrappers around services."""

from celery import shared_task

from . import services


@shared_task(
    name="budgets.check_all_budgets",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def check_all_budgets() -> int:
    """Fire the thresholds every active budget has reached in its current period."""
    return len(services.budget_check_all())
