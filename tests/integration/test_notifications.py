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


def test_a_writer_without_broker_loses_nothing_and_nothing_is_sent_twice(
    broker, smtp_server, caplog
):
    user = UserFactory(email="owner@example.com")
    broker.down()  # the writing process cannot reach Redis at all
    with caplog.at_level(logging.WARNING):
        (row,) = _notify(user, "Written while the broker is down")
    assert caplog.text == ""  # the write never tried the broker
    # the relay hands the job over to the worker's Redis
    wait_for(lambda: smtp_server.for_notification(row.pk), what="the e-mail")

    # Deliver the same row twice more, then a marker: the single worker runs them in order,
    # so once the marker's mail arrives the duplicates have been handled.
    broker.up()
    deliver_notification.delay(row.pk)
    deliver_notification.delay(row.pk)
    (marker,) = _notify(UserFactory(email="marker@example.com"), "Marker")
    wait_for(lambda: smtp_server.for_notification(marker.pk), what="the marker e-mail")

    assert len(smtp_server.for_notification(row.pk)) == 1
    row.refresh_from_db()
    assert row.emailed_at is not None
    assert row.email_attempts == 1


def test_the_sweep_sends_once_what_a_lost_message_left_unsent(broker, smtp_server):
    # a row whose job was handed over but whose message never ran (Redis lost it)
    row = Notification.objects.create(
        recipient=UserFactory(email="late@example.com"),
        kind=Kind.APPROVAL_REQUESTED,
        channel="email",
        subject="Its message was lost",
        created_at=timezone.now() - timedelta(minutes=10),
    )
    sweep_undelivered.delay()
    wait_for(lambda: smtp_server.for_notification(row.pk), what="the swept e-mail")
    sweep_undelivered.delay()
    (marker,) = _notify(UserFactory(email="marker2@example.com"), "Marker")
    wait_for(lambda: smtp_server.for_notification(marker.pk), what="the marker e-mail")
    assert len(smtp_server.for_notification(row.pk)) == 1
