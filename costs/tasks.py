"""Thin Celery wrappers around costs services (ids and plain values as arguments)."""

from datetime import date

from celery import shared_task

from costtrack.core.exceptions import ApplicationError
from costtrack.core.jobs import LeasedJobTask


@shared_task(
    name="costs.reconvert_costs",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
    soft_time_limit=1800,
    time_limit=1900,
)
def reconvert_costs(currency: str | None = None, since: str | None = None) -> int:
    """Recompute reporting amounts after exchange rates changed (``since``: ISO date)."""
    from .services import costs_reconvert

    return costs_reconvert(currency=currency, since=date.fromisoformat(since) if since else None)


@shared_task(
    name="costs.send_pending_reminders",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=3,
    soft_time_limit=1800,
    time_limit=1900,
)
def send_pending_reminders() -> dict[str, int]:
    """Beat: remind deciders of costs pending too long, escalate the oldest (reminders.py)."""
    from .reminders import send_pending_reminders as send

    return send()


from costs.imports.tasks import *  # noqa: E402,F401,F403

# --- recurring costs and accounting periods (costs.recurring, costs.periods) -------------
PERIOD_TASK_OPTIONS = {
    "autoretry_for": (Exception,),
    "dont_autoretry_for": (ApplicationError,),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "max_retries": 5,
}


@shared_task(name="costs.generate_recurring_costs", **PERIOD_TASK_OPTIONS)
def generate_recurring_costs(until: str | None = None) -> dict:
    """Beat (daily): book every recurring cost due up to ``until`` (ISO date; default today)."""
    from .recurring import recurring_costs_generate

    result = recurring_costs_generate(until=date.fromisoformat(until) if until else None)
    return {"created": result.created, "existing": result.existing, "errors": result.errors}


@shared_task(name="costs.close_period", base=LeasedJobTask, **PERIOD_TASK_OPTIONS)
def close_period(
    period_id: int, user_id: int | None = None, allow_pending: bool | None = None
) -> dict:
    """Close an accounting period (``costs.periods.period_close``); running it again after a
    worker died finishes the close without doing anything twice."""
    from django.contrib.auth import get_user_model

    from .period_models import AccountingPeriod
    from .periods import period_close

    user = get_user_model().objects.get(pk=user_id) if user_id else None
    period = period_close(
        period=AccountingPeriod.objects.get(pk=period_id),
        acting_user=user,
        allow_pending=allow_pending,
    )
    return {"period": period.label, "status": period.status}


@shared_task(name="costs.close_previous_period", **PERIOD_TASK_OPTIONS)
def close_previous_period() -> dict:
    """Beat (daily): close last period once ``COSTS_PERIOD_CLOSE_DAY`` days of this one passed."""
    from .periods import period_close_previous

    period = period_close_previous()
    return {"period": period.label, "status": period.status} if period else {}
