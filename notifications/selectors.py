"""Reads of the notifications app. A user only ever sees their own notifications."""

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet

from .kinds import Kind
from .models import Notification, NotificationPreference, default_channel


def notification_list(*, user) -> QuerySet[Notification]:
    """``user``'s notifications, unread first, newest first within each group."""
    unread = ExpressionWrapper(Q(read_at__isnull=True), output_field=BooleanField())
    return Notification.objects.filter(recipient=user).order_by(unread.desc(), "-created_at", "-id")


def notification_get(*, user, notification_id: int) -> Notification | None:
    """One of ``user``'s notifications, or ``None`` (also for another user's)."""
    return Notification.objects.filter(recipient=user, pk=notification_id).first()


def unread_count(*, user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def preferences_for(*, user) -> dict[str, str]:
    """The channel of every kind for ``user``: their choice, else the default."""
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "channel"))
    return {kind: chosen.get(kind, str(default_channel(kind))) for kind in Kind.values}
