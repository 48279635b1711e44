from datetime import timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from costtrack.core.exceptions import NotFound, ValidationError
from notifications import services
from notifications.kinds import Kind
from notifications.models import DEFAULT_CHANNELS, Channel, Notification, NotificationPreference
from tests.notifications.factories import NotificationFactory, NotificationPreferenceFactory
from tests.orgunits.factories import UserFactory

pytestmark = pytest.mark.django_db


def _notify(users, kind=Kind.APPROVAL_REQUESTED, **kwargs):
    return services.notify(
        recipients=users,
        kind=kind,
        subject=kwargs.pop("subject", "Cost 7 waits for your approval"),
        body=kwargs.pop("body", "Alice submitted 120.00 EUR for Platform."),
        link=kwargs.pop("link", "/costs/7/"),
        **kwargs,
    )


@pytest.mark.parametrize("kind", Kind.values)
@pytest.mark.parametrize(
    ("channel", "rows", "mails"),
    [(Channel.OFF, 0, 0), (Channel.IN_APP, 1, 0), (Channel.EMAIL, 1, 1), (Channel.DIGEST, 1, 0)],
)
def test_notify_honours_the_preference_of_each_kind(
    kind, channel, rows, mails, django_capture_on_commit_callbacks
):
    user = UserFactory()
    services.preference_set(user=user, kind=kind, channel=channel)
    with django_capture_on_commit_callbacks(execute=True):
        written = _notify([user], kind=kind)
    assert Notification.objects.filter(recipient=user, kind=kind).count() == rows
    assert len(written) == rows
    assert len(mail.outbox) == mails
    if rows:
        assert written[0].channel == channel
        # Other kinds keep their own (default) channel.
    other = next(k for k in Kind.values if k != kind)
    with django_capture_on_commit_callbacks(execute=True):
        (row,) = _notify([user], kind=other)
    assert row.channel == DEFAULT_CHANNELS[other]


def test_defaults_without_a_preference_row(django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        (approval,) = _notify([user], kind=Kind.APPROVAL_REQUESTED)
        (closed,) = _notify([user], kind=Kind.PERIOD_CLOSED)
    assert approval.channel == Channel.EMAIL
    assert closed.channel == Channel.IN_APP
    assert [m.to for m in mail.outbox] == [[user.email]]


def test_notify_skips_none_and_duplicates_and_inactive_users(django_capture_on_commit_callbacks):
    alice, bob = UserFactory(), UserFactory()
    gone = UserFactory(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        rows = _notify([alice, None, bob, alice, gone])
    assert sorted(r.recipient_id for r in rows) == sorted([alice.pk, bob.pk])
    assert sorted(m.to[0] for m in mail.outbox) == sorted([alice.email, bob.email])


def test_notify_without_email_address_stays_in_app(django_capture_on_commit_callbacks):
    user = UserFactory(email="")
    with django_capture_on_commit_callbacks(execute=True):
        (row,) = _notify([user])
    assert row.channel == Channel.IN_APP
    assert mail.outbox == []


def test_notify_rejects_an_unknown_kind():
    with pytest.raises(ValidationError) as exc:
        _notify([UserFactory()], kind="nonsense")
    assert exc.value.field == "kind"
    assert Notification.objects.count() == 0


def test_notify_mails_only_after_commit(django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        (row,) = _notify([user], payload={"cost_id": 7})
        assert mail.outbox == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert row.emailed_at is not None
    assert row.payload == {"cost_id": 7}
    assert row.email_attempts == 1


def test_notify_does_not_raise_when_the_broker_is_down(
    monkeypatch, django_capture_on_commit_callbacks
):
    from notifications import tasks

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.deliver_notification, "apply_async", broken)
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        (row,) = _notify([user])
    row.refresh_from_db()
    assert row.emailed_at is None
    assert mail.outbox == []


@override_settings(SITE_URL="https://costs.example.com")
def test_email_has_text_and_html_parts_and_an_absolute_link():
    row = NotificationFactory(
        channel=Channel.EMAIL, link="/costs/42/", body="Bob <b>spent</b> 10.00 USD."
    )
    assert services.notification_deliver(notification_id=row.pk) is True
    (message,) = mail.outbox
    assert message.to == [row.recipient.email]
    assert message.subject == row.subject
    assert "https://costs.example.com/costs/42/" in message.body
    assert "Bob <b>spent</b> 10.00 USD." in message.body
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    assert 'href="https://costs.example.com/costs/42/"' in html
    assert "Bob &lt;b&gt;spent&lt;/b&gt;" in html


def test_delivery_twice_sends_one_mail():
    row = NotificationFactory(channel=Channel.EMAIL)
    assert services.notification_deliver(notification_id=row.pk) is True
    assert services.notification_deliver(notification_id=row.pk) is False
    assert len(mail.outbox) == 1


def test_delivery_never_mails_in_app_or_digest_rows():
    in_app = NotificationFactory(channel=Channel.IN_APP)
    digest = NotificationFactory(channel=Channel.DIGEST)
    assert services.notification_deliver(notification_id=in_app.pk) is False
    assert services.notification_deliver(notification_id=digest.pk) is False
    assert mail.outbox == []


def test_failed_delivery_records_the_error_and_raises(monkeypatch):
    row = NotificationFactory(channel=Channel.EMAIL)

    def refuse(self, *args, **kwargs):
        raise OSError("SMTP refused")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    with pytest.raises(services.DeliveryFailed):
        services.notification_deliver(notification_id=row.pk)
    row.refresh_from_db()
    assert row.emailed_at is None
    assert row.email_attempts == 1
    assert "SMTP refused" in row.last_error


@override_settings(NOTIFICATIONS_RESEND_AFTER_SECONDS=120)
def test_sweep_resends_after_the_delay_and_not_before():
    now = timezone.now()
    fresh = NotificationFactory(channel=Channel.EMAIL)
    Notification.objects.filter(pk=fresh.pk).update(created_at=now - timedelta(seconds=60))
    stale = NotificationFactory(channel=Channel.EMAIL)
    Notification.objects.filter(pk=stale.pk).update(created_at=now - timedelta(seconds=121))
    sent = NotificationFactory(channel=Channel.EMAIL, emailed_at=now - timedelta(hours=1))
    Notification.objects.filter(pk=sent.pk).update(created_at=now - timedelta(hours=1))
    in_app = NotificationFactory(channel=Channel.IN_APP)
    Notification.objects.filter(pk=in_app.pk).update(created_at=now - timedelta(hours=1))

    assert services.notification_sweep_undelivered(now=now) == [stale.pk]
    assert [m.to for m in mail.outbox] == [[stale.recipient.email]]
    stale.refresh_from_db()
    assert stale.emailed_at is not None
    # A second sweep finds nothing left to send; later the fresh row is due.
    assert services.notification_sweep_undelivered(now=now) == []
    assert services.notification_sweep_undelivered(now=now + timedelta(seconds=61)) == [fresh.pk]
    assert len(mail.outbox) == 2


@override_settings(NOTIFICATIONS_MAX_EMAIL_ATTEMPTS=3)
def test_sweep_gives_up_after_the_maximum_attempts():
    row = NotificationFactory(channel=Channel.EMAIL, email_attempts=3)
    Notification.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert services.notification_sweep_undelivered() == []


def test_daily_digest_sends_one_mail_per_user_and_marks_rows():
    alice, bob, carol = UserFactory(), UserFactory(), UserFactory()
    NotificationPreferenceFactory(user=alice, kind=Kind.COST_APPROVED, channel=Channel.DIGEST)
    NotificationPreferenceFactory(user=bob, kind=Kind.COST_APPROVED, channel=Channel.DIGEST)
    _notify([alice, bob, carol], kind=Kind.COST_APPROVED, subject="Cost 1 approved", link="/c/1/")
    _notify([alice], kind=Kind.COST_APPROVED, subject="Cost 2 approved", link="/c/2/")
    mail.outbox.clear()

    assert services.digest_send_all() == 2
    by_user = {m.to[0]: m for m in mail.outbox}
    assert set(by_user) == {alice.email, bob.email}
    assert "Cost 1 approved" in by_user[alice.email].body
    assert "Cost 2 approved" in by_user[alice.email].body
    assert "2 notifications" in by_user[alice.email].subject
    assert by_user[alice.email].alternatives[0][1] == "text/html"
    assert not Notification.objects.filter(channel=Channel.DIGEST, emailed_at__isnull=True).exists()
    assert services.digest_send_all() == 0
    assert len(mail.outbox) == 2


def test_mark_read_is_only_for_the_recipient():
    row = NotificationFactory()
    with pytest.raises(NotFound):
        services.mark_read(notification=row, user=UserFactory())
    row.refresh_from_db()
    assert row.read_at is None
    services.mark_read(notification=row, user=row.recipient)
    row.refresh_from_db()
    assert row.read_at is not None


def test_mark_all_read_touches_only_my_rows():
    me = UserFactory()
    mine = NotificationFactory.create_batch(3, recipient=me)
    other = NotificationFactory()
    assert services.mark_all_read(user=me) == 3
    assert (
        Notification.objects.filter(pk__in=[n.pk for n in mine], read_at__isnull=True).count() == 0
    )
    other.refresh_from_db()
    assert other.read_at is None


def test_preference_set_validates_and_upserts():
    user = UserFactory()
    with pytest.raises(ValidationError) as exc:
        services.preference_set(user=user, kind="bogus", channel=Channel.OFF)
    assert exc.value.field == "kind"
    with pytest.raises(ValidationError) as exc:
        services.preference_set(user=user, kind=Kind.COST_APPROVED, channel="pigeon")
    assert exc.value.field == "channel"
    services.preference_set(user=user, kind=Kind.COST_APPROVED, channel=Channel.OFF)
    services.preference_set(user=user, kind=Kind.COST_APPROVED, channel=Channel.DIGEST)
    assert list(
        NotificationPreference.objects.filter(user=user).values_list("channel", flat=True)
    ) == [Channel.DIGEST]


def test_notify_once_notifies_once_per_key(django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = services.notify_once(
            key="costs.reminder:1",
            recipients=[user],
            kind=Kind.PENDING_REMINDER,
            subject="Reminder",
            body="Cost 1 still waits.",
        )
        again = services.notify_once(
            key="costs.reminder:1",
            recipients=[user],
            kind=Kind.PENDING_REMINDER,
            subject="Reminder",
            body="Cost 1 still waits.",
        )
        other = services.notify_once(
            key="costs.reminder:2",
            recipients=[user],
            kind=Kind.PENDING_REMINDER,
            subject="Reminder",
            body="Cost 2 still waits.",
        )
    assert len(first) == 1
    assert again is None
    assert len(other) == 1
    assert Notification.objects.filter(recipient=user).count() == 2
    assert len(mail.outbox) == 2


def test_a_rolled_back_change_notifies_nobody(django_capture_on_commit_callbacks):
    from django.db import transaction

    user = UserFactory()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _notify([user])
        raise RuntimeError("the causing change failed")
    assert not Notification.objects.filter(recipient=user).exists()
    assert mail.outbox == []
