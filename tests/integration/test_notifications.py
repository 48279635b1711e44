"""Notifications through a real Celery worker over Redis to a real SMTP server."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import services
from notifications.kinds import Kind
from notifications.models import Notification
from notifications.tasks import deliver_notification, sweep_undelivered
from tests.integration.conftest import SITE_URL, wait_for
from tests.orgunits.factories import UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _notify(user, subject):
    return services.notify(
        recipients=[user],
        kind=Kind.APPROVAL_REQUESTED,
        subject=subject,
        body="Cost #41: 120.00 EUR waits for your approval.",
        link="/costs/41/",
    )


def test_worker_delivers_a_notification_by_smtp(broker, smtp_server):
    approver = UserFactory(email="approver@example.com")
    (row,) = _notify(approver, "Approval requested: cloud bill")

    (message,) = wait_for(
        lambda: smtp_server.for_notification(row.pk), what="the approver's e-mail"
    )
    assert message["To"] == "approver@example.com"
    assert message["Subject"] == "Approval requested: cloud bill"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert f"{SITE_URL}/costs/41/" in text
    assert f'href="{SITE_URL}/costs/41/"' in html
    row = wait_for(
        lambda: Notification.objects.filter(pk=row.pk, emailed_at__isnull=False).first(),
        what="the row to be marked e-mailed",
    )
    assert row.email_attempts == 1


def test_broker_outage_loses_nothing_and_the_sweep_sends_once(broker, smtp_server, caplog):
    user = UserFactory(email="owner@example.com")
    broker.down()
    with caplog.at_level(logging.WARNING, logger="notifications.services"):
        (row,) = _notify(user, "Written while the broker is down")  # must not raise
    assert f"Could not enqueue delivery of notification {row.pk}" in caplog.text
    assert Notification.objects.filter(pk=row.pk, emailed_at__isnull=True).exists()

    broker.up()
    # The resend delay has passed; the beat task runs on the worker and re-enqueues the row.
    Notification.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    sweep_undelivered.delay()
    wait_for(lambda: smtp_server.for_notification(row.pk), what="the swept e-mail")

    # Deliver the same row twice more, then a marker: the single worker runs them in order,
    # so once the marker's mail arrives the duplicates have been handled.
    deliver_notification.delay(row.pk)
    deliver_notification.delay(row.pk)
    (marker,) = _notify(UserFactory(email="marker@example.com"), "Marker")
    wait_for(lambda: smtp_server.for_notification(marker.pk), what="the marker e-mail")

    assert len(smtp_server.for_notification(row.pk)) == 1
    row.refresh_from_db()
    assert row.emailed_at is not None
    assert row.email_attempts == 1
