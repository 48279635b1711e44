"""Notifications: the outbox rows every app writes through ``notifications.services.notify``
and the per-user, per-kind choice of how each kind reaches them.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .kinds import Kind


class Channel(models.TextChoices):
    """How a kind of notification reaches a user. Every channel but ``off`` shows in the app."""

    IN_APP = "in_app", "In the app only"
    EMAIL = "email", "E-mail and in the app"
    DIGEST = "digest", "Daily digest e-mail and in the app"
    OFF = "off", "Off"


class Notification(models.Model):
    """One message to one user; also the outbox entry of its e-mail.

    ``channel`` records how it was to be delivered when written: ``email`` rows are e-mailed
    one by one (``emailed_at`` set once sent), ``digest`` rows go out in the daily digest
    (``emailed_at`` set when included), ``in_app`` rows are never e-mailed.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    channel = models.CharField(
        max_length=16,
        choices=[c for c in Channel.choices if c[0] != Channel.OFF],
        default=Channel.IN_APP,
    )
    subject = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    body_html = models.TextField(
        blank=True, help_text="Optional HTML body; rendered from the text body when empty."
    )
    link = models.CharField(
        max_length=500, blank=True, help_text="Path (or absolute URL) of the page it is about."
    )
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_recipient_read"),
            models.Index(
                fields=["created_at"],
                name="notification_unsent",
                condition=Q(emailed_at__isnull=True) & ~Q(channel="in_app"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient_id}: {self.subject}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationPreference(models.Model):
    """A user's channel for one kind. Without a row, ``DEFAULT_CHANNELS`` applies."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_pref_user_kind")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: {self.channel}"


class NotificationMarker(models.Model):
    """A key recorded once: ``notify_once`` sends nothing when its key is already here, so a
    periodic job tells people about the same thing once (e.g. one reminder per cost and stage).
    """

    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


# What each kind does for a user who never chose: what needs action or decides money goes by
# e-mail, the rest stays in the app.
DEFAULT_CHANNELS: dict[str, str] = {
    Kind.APPROVAL_REQUESTED: Channel.EMAIL,
    Kind.COST_APPROVED: Channel.EMAIL,
    Kind.COST_REJECTED: Channel.EMAIL,
    Kind.BUDGET_THRESHOLD: Channel.EMAIL,
    Kind.BUDGET_FORECAST: Channel.EMAIL,
    Kind.BUDGET_BLOCKED: Channel.EMAIL,
    Kind.PENDING_REMINDER: Channel.EMAIL,
    Kind.PENDING_ESCALATION: Channel.EMAIL,
    Kind.PERIOD_CLOSED: Channel.IN_APP,
    Kind.IMPORT_FINISHED: Channel.IN_APP,
    Kind.RECOMMENDATIONS: Channel.EMAIL,
}


def default_channel(kind: str) -> str:
    return DEFAULT_CHANNELS.get(kind, Channel.IN_APP)
