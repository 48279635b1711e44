"""Celery tasks of the notifications app: thin wrappers over ``services`` taking ids."""

from celery import shared_task

from . import services


@shared_task(
    name="notifications.deliver_notification",
    autoretry_for=(services.DeliveryFailed,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
    soft_time_limit=60,
    time_limit=90,
    acks_late=True,
)
def deliver_notification(notification_id: int) -> bool:
    """E-mail one notification (at most once, see ``services.notification_deliver``)."""
    return services.notification_deliver(notification_id=notification_id)


@shared_task(
    name="notifications.sweep_undelivered",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=120,
    time_limit=180,
)
def sweep_undelivered() -> int:
    """Beat: re-enqueue e-mail notifications still unsent after the resend delay."""
    return len(services.notification_sweep_undelivered())


@shared_task(
    name="notifications.send_daily_digest",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=1800,
    time_limit=1900,
)
def send_daily_digest() -> int:
    """Beat: one digest mail per user who chose the daily digest and has unsent rows."""
    return services.digest_send_all()
