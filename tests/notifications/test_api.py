import pytest

from notifications.kinds import Kind
from notifications.models import Channel, NotificationPreference
from tests.notifications.factories import NotificationFactory
from tests.orgunits.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/notifications/"
PREFS = "/api/v1/notifications/preferences/"


def test_list_shows_only_mine_unread_first_with_limit_offset(
    client_for, django_assert_max_num_queries
):
    me = UserFactory()
    read = NotificationFactory(recipient=me, subject="old news")
    read.read_at = read.created_at
    read.save()
    unread = NotificationFactory.create_batch(3, recipient=me)
    NotificationFactory.create_batch(2)  # someone else's

    client = client_for(me)
    with django_assert_max_num_queries(4):
        response = client.get(LIST, {"limit": 2, "offset": 0})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["next"] is not None
    everything = client.get(LIST, {"limit": 10}).json()["results"]
    assert [n["id"] for n in everything] == [n.pk for n in reversed(unread)] + [read.pk]
    assert everything[-1]["is_read"] is True
    assert everything[0]["link"] == "/costs/1/"
    unread_only = client.get(LIST, {"unread": "true"}).json()
    assert unread_only["count"] == 3


def test_list_requires_authentication(api_client):
    assert api_client.get(LIST).status_code in (401, 403)


def test_mark_read(client_for):
    row = NotificationFactory()
    response = client_for(row.recipient).post(f"{LIST}{row.pk}/read/")
    assert response.status_code == 200
    assert response.json()["is_read"] is True
    row.refresh_from_db()
    assert row.read_at is not None


def test_nobody_reads_or_marks_another_users_notification(client_for):
    row = NotificationFactory(subject="Secret cost 99")
    intruder = client_for(UserFactory())
    response = intruder.post(f"{LIST}{row.pk}/read/")
    assert response.status_code == 404
    assert "Secret" not in response.content.decode()
    listed = intruder.get(LIST).json()
    assert listed["count"] == 0
    assert intruder.post(f"{LIST}read-all/").json() == {"marked_read": 0}
    row.refresh_from_db()
    assert row.read_at is None


def test_mark_all_read(client_for):
    me = UserFactory()
    NotificationFactory.create_batch(2, recipient=me)
    client = client_for(me)
    assert client.post(f"{LIST}read-all/").json() == {"marked_read": 2}
    assert client.get(LIST, {"unread": "1"}).json()["count"] == 0


def test_preferences_get_shows_every_kind_with_defaults(client_for):
    me = UserFactory()
    NotificationPreference.objects.create(user=me, kind=Kind.PERIOD_CLOSED, channel=Channel.DIGEST)
    body = client_for(me).get(PREFS).json()
    assert set(body) == set(Kind.values)
    assert body["approval_requested"] == "email"
    assert body["import_finished"] == "in_app"
    assert body["period_closed"] == "digest"


def test_preferences_put_changes_named_kinds(client_for):
    me = UserFactory()
    client = client_for(me)
    response = client.put(PREFS, {"cost_approved": "off", "budget_threshold": "digest"})
    assert response.status_code == 200
    assert response.json()["cost_approved"] == "off"
    assert response.json()["budget_threshold"] == "digest"
    assert response.json()["approval_requested"] == "email"
    assert client.get(PREFS).json()["cost_approved"] == "off"
    # Another user's preferences are untouched.
    assert client_for(UserFactory()).get(PREFS).json()["cost_approved"] == "email"


@pytest.mark.parametrize(
    ("payload", "field", "named"),
    [
        ({"cost_approved": "off", "nonsense": "email"}, "kind", "nonsense"),
        ({"cost_approved": "off", "cost_rejected": "pigeon"}, "channel", "pigeon"),
    ],
)
def test_preferences_put_rejects_unknown_kind_or_channel(client_for, payload, field, named):
    me = UserFactory()
    response = client_for(me).put(PREFS, payload)
    assert response.status_code == 400
    assert named in response.json()[field][0]
    assert not NotificationPreference.objects.filter(user=me).exists()
