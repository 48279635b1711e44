import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications.kinds import Kind
from notifications.models import Channel, NotificationPreference
from tests.notifications.factories import NotificationFactory
from tests.orgunits.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def me(client):
    user = UserFactory()
    client.force_login(user)
    return user


def test_page_requires_login(client):
    response = client.get(reverse("notifications:list"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_page_lists_mine_unread_first_and_nav_shows_the_count(
    client, me, django_assert_max_num_queries
):
    read = NotificationFactory(recipient=me, subject="Already seen")
    read.read_at = read.created_at
    read.save()
    NotificationFactory(recipient=me, subject="Cost 12 approved")
    NotificationFactory(recipient=me, subject="Cost 13 rejected")
    NotificationFactory(subject="Not for me")
    with django_assert_max_num_queries(8):
        response = client.get(reverse("notifications:list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Not for me" not in html
    assert (
        html.index("Cost 13 rejected") < html.index("Cost 12 approved") < html.index("Already seen")
    )
    assert 'id="unread-count"' in html
    assert 'aria-label="2 unread"' in html
    assert "csrfmiddlewaretoken" in html


def test_nav_count_on_another_page_costs_one_query(client, me):
    NotificationFactory(recipient=me)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("notifications:preferences"))
    assert 'aria-label="1 unread"' in response.content.decode()
    on_notifications = [q["sql"] for q in queries if '"notifications_notification"' in q["sql"]]
    assert len(on_notifications) == 1
    assert "COUNT(" in on_notifications[0]


def test_mark_read_and_mark_all_read_by_post(client, me):
    one, two, three = NotificationFactory.create_batch(3, recipient=me)
    assert client.get(reverse("notifications:read", args=[one.pk])).status_code == 405
    response = client.post(reverse("notifications:read", args=[one.pk]))
    assert response.status_code == 302
    one.refresh_from_db()
    assert one.read_at is not None
    response = client.post(reverse("notifications:read-all"), follow=True)
    assert "Marked 2 notifications read." in response.content.decode()
    assert 'id="unread-count"' not in response.content.decode()


def test_open_marks_read_and_follows_the_link(client, me):
    row = NotificationFactory(recipient=me, link="/costs/5/")
    response = client.post(reverse("notifications:read", args=[row.pk]), {"open": "1"})
    assert response.status_code == 302
    assert response["Location"] == "/costs/5/"


@pytest.mark.parametrize(
    "link",
    [
        "//evil.example",
        "//evil.example/costs/5/",
        "https://evil.example",
        "https://evil.example/costs/5/",
        "///evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
    ],
)
def test_open_never_leaves_the_site(client, me, link):
    row = NotificationFactory(recipient=me, link=link)
    response = client.post(reverse("notifications:read", args=[row.pk]), {"open": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("notifications:list")
    row.refresh_from_db()
    assert row.read_at is not None


def test_cannot_mark_another_users_notification(client, me):
    row = NotificationFactory()
    assert client.post(reverse("notifications:read", args=[row.pk])).status_code == 404
    row.refresh_from_db()
    assert row.read_at is None


def test_preferences_page_saves_choices(client, me):
    response = client.get(reverse("notifications:preferences"))
    assert response.status_code == 200
    assert 'name="approval_requested"' in response.content.decode()
    response = client.post(
        reverse("notifications:preferences"), {"approval_requested": "digest"}, follow=True
    )
    assert "Preferences saved." in response.content.decode()
    assert NotificationPreference.objects.get(user=me, kind=Kind.APPROVAL_REQUESTED).channel == (
        Channel.DIGEST
    )
    response = client.post(reverse("notifications:preferences"), {"cost_approved": "pigeon"})
    assert response.status_code == 200
    assert "pigeon" in response.content.decode()
