"""Two deliveries of the same row at the same moment, on two database connections."""

import threading

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import connection

from notifications import services
from notifications.models import Channel, Notification
from tests.notifications.factories import NotificationFactory


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_deliveries_send_one_mail(monkeypatch):
    row = NotificationFactory(channel=Channel.EMAIL)
    real_send = EmailMultiAlternatives.send
    start = threading.Barrier(2, timeout=30)
    first_returned = threading.Event()
    sends = []

    def slow_send(self, *args, **kwargs):
        sends.append(self.to)
        # Hold the row lock until the other delivery has finished: without the lock it would
        # send a second mail now.
        first_returned.wait(timeout=10)
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "send", slow_send)
    results = {}
    errors = []

    def deliver(name):
        try:
            start.wait()
            results[name] = services.notification_deliver(notification_id=row.pk)
            first_returned.set()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
            first_returned.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(results.values()) == [False, True]
    assert len(sends) == 1
    assert len(mail.outbox) == 1
    row = Notification.objects.get(pk=row.pk)
    assert row.emailed_at is not None
    assert row.email_attempts == 1
