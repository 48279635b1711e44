"""A cost's description is user text: a line break in it must not stop its mails."""

import pytest
from django.core import mail

from costs.models import Cost
from notifications.models import Notification

pytestmark = pytest.mark.django_db

DESCRIPTION = "Quarterly licence\r\nBcc: everyone@example.com\nsecond line\x0bend"


def test_multi_line_description_still_mails_its_approvers(
    org, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(org.member).post(
            "/api/v1/costs/",
            {
                "amount": "120.50",
                "currency": "USD",
                "incurred_on": "2025-03-10",
                "organization_unit": org.platform.pk,
                "description": DESCRIPTION,
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    cost = Cost.objects.get(pk=response.json()["id"])
    assert cost.description == DESCRIPTION  # stored as written

    rows = Notification.objects.filter(kind="approval_requested", payload__cost_id=cost.pk)
    assert rows.exists()
    assert all(row.emailed_at is not None and row.last_error == "" for row in rows)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.recipient.email for r in rows)
    for message in mail.outbox:
        assert "\n" not in message.subject and "\r" not in message.subject
        assert "Quarterly licence Bcc: everyone@example.com second line end" in message.subject
        # No header was smuggled in through the description.
        assert message.message().get_all("Bcc") is None
        # The body keeps the text line by line.
        assert "Quarterly licence\r\nBcc: everyone@example.com\nsecond line" in message.body


def test_long_description_gives_a_bounded_subject(
    org, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(org.member).post(
            "/api/v1/costs/",
            {
                "amount": "1.00",
                "currency": "USD",
                "incurred_on": "2025-03-10",
                "organization_unit": org.platform.pk,
                "description": "word " * 99,
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    assert mail.outbox
    assert all(len(m.subject) <= 200 for m in mail.outbox)
