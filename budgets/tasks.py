"""Celery tasks of the budgets app: thin wrappers around services."""

from celery import shared_task

from . import services


@shared_task(
    name="budgets.check_all_budgets",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
    # One spend query for every budget; minutes mean something is stuck, not slow.
    soft_time_limit=300,
    time_limit=360,
)
def check_all_budgets() -> int:
    """Fire the thresholds every active budget has reached in its current period."""
    return len(services.budget_check_all())
