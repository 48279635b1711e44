"""Writes of the notifications app: the outbox (``notify``), its delivery, the sweep that
re-sends what is still unsent, the daily digest, marking read and preferences.

The contract other apps rely on is ``notify``; it knows nothing of costs or budgets — the
caller decides who is told what, this app decides how it reaches them.
"""

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from costtrack.core.exceptions import NotFound, ValidationError
from costtrack.core.jobs import JobSpec, jobs_enqueue
from costtrack.core.mail import header_safe

from .kinds import Kind
from .models import (
    Channel,
    Notification,
    NotificationMarker,
    NotificationPreference,
    default_channel,
)

logger = logging.getLogger(__name__)

DEFAULT_RESEND_AFTER_SECONDS = 120
DEFAULT_MAX_EMAIL_ATTEMPTS = 10
SWEEP_BATCH = 500
DELIVER_TASK = "notifications.deliver_notification"


class DeliveryFailed(Exception):
    """Sending the e-mail of a notification failed; the task retries, the sweep re-sends."""


def _check_kind(kind: str) -> None:
    if kind not in Kind.values:
        raise ValidationError(f"Unknown notification kind '{kind}'.", field="kind")


def _unique_users(recipients: Iterable[Any]) -> list[Any]:
    seen: set[int] = set()
    users = []
    for user in recipients:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        users.append(user)
    return users


def channels_for(*, users: list[Any], kind: str) -> dict[int, str]:
    """The channel of ``kind`` for each user id: their preference, else the default."""
    chosen = dict(
        NotificationPreference.objects.filter(
            user__in=[u.pk for u in users], kind=kind
        ).values_list("user_id", "channel")
    )
    return {u.pk: chosen.get(u.pk, default_channel(kind)) for u in users}


def enqueue_delivery(notification_id: int) -> bool:
    """Hand one notification to the broker now (the sweep, on a worker; requests go through
    the job outbox). Never raises: with the broker down the row stays unsent and the next
    sweep re-sends it."""
    from .tasks import deliver_notification

    try:
        deliver_notification.apply_async(
            args=[notification_id],
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        )
    except Exception:
        logger.warning(
            "Could not enqueue delivery of notification %s; the sweep will re-send it.",
            notification_id,
            exc_info=True,
        )
        return False
    return True


def notify(
    *,
    recipients: Iterable[Any],
    kind: str,
    subject: str,
    body: str,
    link: str = "",
    payload: dict | None = None,
) -> list[Notification]:
    """Tell ``recipients`` (users; duplicates and ``None`` skipped) about something of ``kind``.

    Writes one row per user in the caller's transaction, honouring each user's channel for
    ``kind``: ``off`` writes nothing, ``in_app`` a row that is never e-mailed, ``email`` a row
    e-mailed by the ``notifications.deliver_notification`` task, whose job is recorded in the
    same transaction (``costtrack.core.jobs``: handed to the broker by the dispatcher, never
    by the caller), ``digest`` a row kept for the daily digest. Users without an e-mail
    address get in-app rows.

    Returns the rows written. Raises ``ValidationError`` for an unknown ``kind`` (before
    anything is written, so the caller's transaction stays usable).
    """
    _check_kind(kind)
    return _notify_rows(
        recipients=recipients, kind=kind, subject=subject, body=body, link=link, payload=payload
    )


# inside a caller's transaction (a cost's submission) the rows join it without a savepoint
@transaction.atomic(savepoint=False)
def _notify_rows(*, recipients, kind: str, subject: str, body: str, link: str, payload):
    users = [u for u in _unique_users(recipients) if u.is_active]
    if not users:
        return []
    channels = channels_for(users=users, kind=kind)
    rows = []
    for user in users:
        channel = channels[user.pk]
        if channel == Channel.OFF:
            continue
        if channel != Channel.IN_APP and not user.email:
            channel = Channel.IN_APP
        row = Notification(
            recipient=user,
            kind=kind,
            channel=channel,
            subject=header_safe(subject),
            body=body,
            link=link,
            payload=payload or {},
        )
        row.full_clean(exclude=["recipient"])  # a saved, active user read above
        rows.append(row)
    rows = Notification.objects.bulk_create(rows)
    jobs_enqueue(
        JobSpec(task=DELIVER_TASK, args=[row.pk]) for row in rows if row.channel == Channel.EMAIL
    )
    return rows


@transaction.atomic
def notify_once(
    *,
    key: str,
    recipients: Iterable[Any],
    kind: str,
    subject: str,
    body: str,
    link: str = "",
    payload: dict | None = None,
) -> list[Notification] | None:
    """``notify`` unless ``key`` was used before; records ``key`` in the same transaction.

    Returns ``None`` when the key was already recorded (nothing written), else the rows
    ``notify`` wrote. Two concurrent calls with one key notify once: the second waits on the
    unique key and then finds it.
    """
    _check_kind(kind)
    _, created = NotificationMarker.objects.get_or_create(key=key[:200])
    if not created:
        return None
    return notify(
        recipients=recipients, kind=kind, subject=subject, body=body, link=link, payload=payload
    )


def absolute_link(link: str) -> str:
    if not link or link.startswith(("http://", "https://")):
        return link
    return settings.SITE_URL.rstrip("/") + "/" + link.lstrip("/")


def _message_for(notification: Notification) -> EmailMultiAlternatives:
    context = {
        "notification": notification,
        "recipient": notification.recipient,
        "url": absolute_link(notification.link),
        "site_url": settings.SITE_URL,
    }
    text = render_to_string("notifications/email/notification.txt", context)
    html = notification.body_html or render_to_string(
        "notifications/email/notification.html", context
    )
    message = EmailMultiAlternatives(
        subject=header_safe(notification.subject),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient.email],
        headers={"X-Costtrack-Notification": str(notification.pk)},
    )
    message.attach_alternative(html, "text/html")
    return message


def _max_attempts() -> int:
    return getattr(settings, "NOTIFICATIONS_MAX_EMAIL_ATTEMPTS", DEFAULT_MAX_EMAIL_ATTEMPTS)


def notification_deliver(*, notification_id: int) -> bool:
    """E-mail one notification at most once.

    The row is locked with ``SELECT … FOR UPDATE SKIP LOCKED``; a row another worker holds,
    one already e-mailed or one not meant for e-mail is skipped. The mail is sent and
    ``emailed_at`` written in the same transaction, so two deliveries at the same moment send
    one mail. Returns whether this call sent it. On a sending error the attempt and the error
    are recorded and ``DeliveryFailed`` is raised (the task retries with backoff).
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient")
            .filter(pk=notification_id, channel=Channel.EMAIL, emailed_at__isnull=True)
            .first()
        )
        if notification is None:
            return False
        notification.email_attempts += 1
        if not notification.recipient.email:
            notification.last_error = "The recipient has no e-mail address."
            notification.email_attempts = max(notification.email_attempts, _max_attempts())
            notification.save(update_fields=["email_attempts", "last_error"])
            return False
        try:
            _message_for(notification).send()
        except Exception as exc:
            notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            notification.save(update_fields=["email_attempts", "last_error"])
            error = exc
        else:
            notification.emailed_at = timezone.now()
            notification.last_error = ""
            notification.save(update_fields=["email_attempts", "emailed_at", "last_error"])
            return True
    raise DeliveryFailed(f"Notification {notification_id}: {error}") from error


def notification_sweep_undelivered(*, now=None) -> list[int]:
    """Re-enqueue e-mail rows still unsent ``NOTIFICATIONS_RESEND_AFTER_SECONDS`` after they
    were written (and tried fewer than ``NOTIFICATIONS_MAX_EMAIL_ATTEMPTS`` times).
    Returns the ids handed to the broker."""
    now = now or timezone.now()
    delay = getattr(settings, "NOTIFICATIONS_RESEND_AFTER_SECONDS", DEFAULT_RESEND_AFTER_SECONDS)
    ids = list(
        Notification.objects.filter(
            channel=Channel.EMAIL,
            emailed_at__isnull=True,
            created_at__lte=now - timedelta(seconds=delay),
            email_attempts__lt=_max_attempts(),
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    return [pk for pk in ids if enqueue_delivery(pk)]


def digest_send(*, user_id: int) -> int:
    """Send one digest mail of every ``digest`` row of a user not yet sent; mark them sent.

    Rows are locked (skip locked) so two digest runs never send a row twice. Returns the
    number of notifications included (0: no mail)."""
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient")
            .filter(recipient_id=user_id, channel=Channel.DIGEST, emailed_at__isnull=True)
            .order_by("created_at", "pk")
        )
        if not rows:
            return 0
        recipient = rows[0].recipient
        if not recipient.email:
            return 0
        items = [{"notification": n, "url": absolute_link(n.link)} for n in rows]
        context = {"recipient": recipient, "items": items, "site_url": settings.SITE_URL}
        subject = f"costtrack daily digest: {len(rows)} notification{'s' if len(rows) != 1 else ''}"
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("notifications/email/digest.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[recipient.email],
        )
        message.attach_alternative(
            render_to_string("notifications/email/digest.html", context), "text/html"
        )
        message.send()
        Notification.objects.filter(pk__in=[n.pk for n in rows]).update(emailed_at=timezone.now())
        return len(rows)


def digest_send_all() -> int:
    """Send the daily digest to every user with unsent digest rows. Returns mails sent."""
    user_ids = (
        Notification.objects.filter(channel=Channel.DIGEST, emailed_at__isnull=True)
        .values_list("recipient_id", flat=True)
        .distinct()
    )
    sent = 0
    for user_id in list(user_ids):
        try:
            if digest_send(user_id=user_id):
                sent += 1
        except Exception:
            logger.exception("Daily digest for user %s failed; it goes out next run.", user_id)
    return sent


@transaction.atomic
def mark_read(*, notification: Notification, user) -> Notification:
    """Mark one of ``user``'s notifications read. Another user's notification: ``NotFound``."""
    if notification.recipient_id != user.pk:
        raise NotFound("Notification not found.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


@transaction.atomic
def mark_all_read(*, user) -> int:
    """Mark every unread notification of ``user`` read. Returns how many were unread."""
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


@transaction.atomic
def preference_set(*, user, kind: str, channel: str) -> NotificationPreference:
    """Choose how ``kind`` reaches ``user``. Unknown kind or channel: ``ValidationError``."""
    _check_kind(kind)
    if channel not in Channel.values:
        raise ValidationError(
            f"Unknown channel '{channel}' for {kind}; choose one of {', '.join(Channel.values)}.",
            field="channel",
        )
    preference, _ = NotificationPreference.objects.update_or_create(
        user=user, kind=kind, defaults={"channel": channel}
    )
    return preference


@transaction.atomic
def preferences_set(*, user, preferences: dict[str, str]) -> list[NotificationPreference]:
    """Set several kinds at once (``{kind: channel}``); all or nothing."""
    return [
        preference_set(user=user, kind=kind, channel=channel)
        for kind, channel in preferences.items()
    ]
