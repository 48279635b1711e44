"""Subjects are one line however they reach the outbox."""

import pytest
from django.core import mail

from costtrack.core.mail import header_safe
from notifications import services
from notifications.kinds import Kind
from notifications.models import Channel
from tests.notifications.factories import NotificationFactory
from tests.orgunits.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_notify_stores_a_single_line_subject(django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        (row,) = services.notify(
            recipients=[user],
            kind=Kind.APPROVAL_REQUESTED,
            subject="Budget\r\nX-Injected: yes",
            body="line one\nline two",
        )
    row.refresh_from_db()
    assert row.subject == "Budget X-Injected: yes"
    assert row.body == "line one\nline two"
    assert len(mail.outbox) == 1
    assert "X-Injected" not in mail.outbox[0].message()


def test_a_stored_row_with_a_line_break_is_delivered():
    # A row written before subjects were folded must not fail for ever.
    row = NotificationFactory(
        channel=Channel.EMAIL, subject="Cost 7\nwaits", recipient=UserFactory()
    )
    assert services.notification_deliver(notification_id=row.pk) is True
    assert mail.outbox[0].subject == "Cost 7 waits"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\r\nb", "a b"),
        ("a\u2028b\u0085c", "a b c"),
        ("  tab\there  ", "tab here"),
        ("x" * 300, "x" * 199 + "\u2026"),
        ("", ""),
    ],
)
def test_header_safe(text, expected):
    assert header_safe(text) == expected
