from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from costs import reminders, services
from costs.models import Cost
from costs.tasks import send_pending_reminders
from notifications.kinds import Kind
from notifications.models import Notification
from orgunits import services as org_services
from tests.costs.factories import make_cost

pytestmark = pytest.mark.django_db


def _recipients(kind, cost):
    return sorted(
        Notification.objects.filter(kind=kind, payload__cost_id=cost.pk).values_list(
            "recipient__username", flat=True
        )
    )


def _days_later(cost, days, hours=0):
    return cost.submitted_at + timedelta(days=days, hours=hours)


def test_nothing_before_the_reminder_delay(org):
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform, resource=org.resource)
    totals = reminders.send_pending_reminders(now=_days_later(cost, 2, 23))
    assert totals == {"reminded": 0, "escalated": 0}
    assert not Notification.objects.filter(kind=Kind.PENDING_REMINDER).exists()


def test_reminder_after_three_days_reaches_the_deciders_once(org):
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform, resource=org.resource)
    assert cost.approver == org.res_owner
    totals = reminders.send_pending_reminders(now=_days_later(cost, 3))
    assert totals == {"reminded": 2, "escalated": 0}
    assert _recipients(Kind.PENDING_REMINDER, cost) == ["eng_approver", "res_owner"]
    row = Notification.objects.filter(kind=Kind.PENDING_REMINDER).first()
    assert row.link == f"/costs/{cost.pk}/"
    assert "waited 3 days" in row.body
    # The next daily runs do not remind again.
    assert reminders.send_pending_reminders(now=_days_later(cost, 4)) == {
        "reminded": 0,
        "escalated": 0,
    }
    assert Notification.objects.filter(kind=Kind.PENDING_REMINDER).count() == 2


def test_escalation_after_seven_days_goes_to_the_next_unit_owner_once(org):
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform, resource=org.resource)
    reminders.send_pending_reminders(now=_days_later(cost, 3))
    totals = reminders.send_pending_reminders(now=_days_later(cost, 7))
    assert totals == {"reminded": 0, "escalated": 1}
    # The approver owns the resource; the nearest unit owner above the cost is eng's owner.
    assert _recipients(Kind.PENDING_ESCALATION, cost) == ["eng_owner"]
    assert reminders.send_pending_reminders(now=_days_later(cost, 8))["escalated"] == 0
    assert Notification.objects.filter(kind=Kind.PENDING_ESCALATION).count() == 1


def test_escalation_climbs_above_an_approver_who_owns_a_unit(org):
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform)
    assert cost.approver == org.eng_owner
    totals = reminders.send_pending_reminders(now=_days_later(cost, 7))
    assert totals["reminded"] >= 1
    assert _recipients(Kind.PENDING_ESCALATION, cost) == ["ceo"]


def test_escalation_from_the_top_goes_to_finance(org):
    org_services.membership_set(user=org.eng_owner, unit=org.root, role="member")
    cost = make_cost(submitted_by=org.eng_owner, organization_unit=org.root)
    assert cost.approver == org.ceo
    reminders.send_pending_reminders(now=_days_later(cost, 7))
    assert _recipients(Kind.PENDING_ESCALATION, cost) == ["fin"]


def test_decided_costs_are_not_reminded(org):
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform)
    services.cost_approve(cost=cost, acting_user=org.eng_owner)
    totals = reminders.send_pending_reminders(now=timezone.now() + timedelta(days=30))
    assert totals == {"reminded": 0, "escalated": 0}


def test_a_resubmitted_cost_is_reminded_again(org):
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform)
    reminders.send_pending_reminders(now=_days_later(cost, 3))
    cost = services.cost_reject(cost=cost, acting_user=org.eng_owner, comment="split it")
    cost = services.cost_revise(cost=cost, acting_user=org.member)
    result = services.cost_submit(cost=Cost.objects.get(pk=cost.pk), acting_user=org.member)
    cost = getattr(result, "cost", result)
    # Resubmitted later than the first submission (the key has second resolution).
    Cost.objects.filter(pk=cost.pk).update(submitted_at=timezone.now() + timedelta(seconds=5))
    cost = Cost.objects.get(pk=cost.pk)
    reminders.send_pending_reminders(now=_days_later(cost, 3))
    assert (
        Notification.objects.filter(
            kind=Kind.PENDING_REMINDER, recipient=org.eng_owner, payload__cost_id=cost.pk
        ).count()
        == 2
    )


@override_settings(COSTS_REMINDER_AFTER_DAYS=1, COSTS_ESCALATE_AFTER_DAYS=2)
def test_the_task_uses_the_configured_delays(org):
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform)
    Cost.objects.filter(pk=cost.pk).update(submitted_at=timezone.now() - timedelta(days=2, hours=1))
    assert send_pending_reminders.delay().get() == {"reminded": 2, "escalated": 1}
    assert _recipients(Kind.PENDING_REMINDER, cost) == ["eng_approver", "eng_owner"]
    assert _recipients(Kind.PENDING_ESCALATION, cost) == ["ceo"]
