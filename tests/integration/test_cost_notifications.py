"""Acceptance of issue 5: a cost submitted through the API reaches its approver by e-mail and
the decision reaches the submitter, through a real Celery worker, Redis and an SMTP server;
with the broker down the submission still succeeds and the sweep delivers the mail once."""

import pytest
from rest_framework.test import APIClient

from notifications.kinds import Kind
from notifications.models import Notification
from notifications.tasks import deliver_notification, sweep_undelivered
from orgunits import services as org_services
from tests.integration.conftest import SITE_URL, wait_for
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team():
    approver = UserFactory(username="olivia", email="olivia@example.com")
    submitter = UserFactory(username="sam", email="sam@example.com")
    unit = OrganizationUnitFactory(name="Platform", code="platform", owner=approver)
    org_services.membership_set(user=submitter, unit=unit, role="member")
    return approver, submitter, unit


def _client(user):
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def _submit(submitter, unit, description):
    response = _client(submitter).post(
        "/api/v1/costs/",
        {
            "amount": "120.00",
            "currency": "USD",
            "incurred_on": "2025-03-15",
            "organization_unit": unit.pk,
            "description": description,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def _row(kind, cost_id):
    return Notification.objects.filter(kind=kind, payload__cost_id=cost_id).first()


def test_submit_mails_the_approver_and_approval_mails_the_submitter(broker, smtp_server, team):
    approver, submitter, unit = team
    cost = _submit(submitter, unit, "Cloud bill March")
    assert cost["status"] == "pending"

    (mail_to_approver,) = wait_for(
        lambda: smtp_server.to("olivia@example.com"), what="the approver's e-mail"
    )
    assert "Cloud bill March" in mail_to_approver["Subject"]
    html = mail_to_approver.get_body(preferencelist=("html",)).get_content()
    assert f'href="{SITE_URL}/costs/{cost["id"]}/"' in html
    assert smtp_server.to("sam@example.com") == []

    response = _client(approver).post(f"/api/v1/costs/{cost['id']}/approve/", {}, format="json")
    assert response.status_code == 200, response.content
    (mail_to_submitter,) = wait_for(
        lambda: smtp_server.to("sam@example.com"), what="the submitter's e-mail"
    )
    assert "approved" in mail_to_submitter["Subject"]
    text = mail_to_submitter.get_body(preferencelist=("plain",)).get_content()
    assert f"{SITE_URL}/costs/{cost['id']}/" in text
    assert len(smtp_server.to("olivia@example.com")) == 1


def test_submitting_with_the_broker_down_succeeds_and_mails_once(broker, smtp_server, team):
    approver, submitter, unit = team
    broker.down()  # the API process cannot reach Redis; the relay can
    cost = _submit(submitter, unit, "Written during the outage")
    row = _row(Kind.APPROVAL_REQUESTED, cost["id"])
    assert row is not None
    assert row.recipient == approver
    wait_for(lambda: smtp_server.for_notification(row.pk), what="the approver's e-mail")

    # A retried or duplicated delivery task sends nothing more; the single worker runs tasks
    # in order, so once the later marker cost's mail arrived the duplicates were handled.
    broker.up()
    deliver_notification.delay(row.pk)
    sweep_undelivered.delay()
    marker = _submit(submitter, unit, "Marker")
    marker_row = _row(Kind.APPROVAL_REQUESTED, marker["id"])
    wait_for(lambda: smtp_server.for_notification(marker_row.pk), what="the marker e-mail")

    assert len(smtp_server.for_notification(row.pk)) == 1
    row.refresh_from_db()
    assert row.emailed_at is not None
    assert row.email_attempts == 1
