import pytest
from django.core import mail
from django.urls import reverse

from notifications.models import Channel
from tests.notifications.factories import NotificationFactory
from tests.orgunits.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_changelist_lists_notifications(admin_client, django_assert_max_num_queries):
    rows = NotificationFactory.create_batch(5)
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:notifications_notification_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert all(row.subject in html for row in rows)


def test_resend_action_mails_only_unsent_email_rows(admin_client):
    unsent = NotificationFactory(channel=Channel.EMAIL)
    in_app = NotificationFactory(channel=Channel.IN_APP)
    response = admin_client.post(
        reverse("admin:notifications_notification_changelist"),
        {"action": "resend", "_selected_action": [unsent.pk, in_app.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Queued 1 notification(s) for delivery." in response.content.decode()
    assert [m.to for m in mail.outbox] == [[unsent.recipient.email]]
    unsent.refresh_from_db()
    assert unsent.emailed_at is not None
