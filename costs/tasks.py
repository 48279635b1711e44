"""Thin Celery wrappers around costs services (ids and plain values as arguments)."""

from datetime import date

from celery import shared_task


@shared_task(
    name="costs.reconvert_costs",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
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
