"""A ``block`` budget refusing a cost: at submission, and at approval for budgets that count
approved spend only. The unit owner and finance are told once per budget and period, in a
transaction of its own (the refused one rolls back)."""

from datetime import date
from decimal import Decimal

import pytest
from django.core import mail

from budgets import services
from budgets.models import BudgetAlert
from costs import services as cost_services
from costs.models import Cost, CostEvent
from costtrack.core.exceptions import PermissionDenied, ValidationError
from notifications.models import Notification
from tests.budgets.factories import BudgetFactory
from tests.orgunits.factories import finance_user

pytestmark = pytest.mark.django_db
MARCH = date(2025, 3, 15)
APRIL = date(2025, 4, 10)
SUBJECT = "Budget 'Eng hard' refused a cost of 50.00 USD: 60.00 of 100.00 USD spent, 40.00 left."


def submit(org, amount, *, user=None, day=MARCH, **kw):
    return cost_services.cost_create(
        submitted_by=user or org.member,
        amount=Decimal(amount),
        currency="USD",
        incurred_on=day,
        organization_unit=org.platform,
        **kw,
    )


def blocked(**filters):
    return Notification.objects.filter(kind="budget_blocked", **filters)


@pytest.fixture
def hard(org):
    return BudgetFactory(
        name="Eng hard", organization_unit=org.eng, amount=Decimal("100.00"), action="block"
    )


def test_refusal_tells_owner_and_finance_once_per_budget_and_period(
    org, hard, django_capture_on_commit_callbacks
):
    submit(org, "60.00")
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(PermissionDenied) as exc,
    ):
        submit(org, "50.00", description="GPU burst")
    assert exc.value.code == "budget_exceeded"
    assert Cost.objects.count() == 1  # the refused cost is not written
    assert sorted(blocked().values_list("recipient__username", flat=True)) == ["eng_owner", "fin"]
    note = blocked().get(recipient=org.eng_owner)
    assert note.subject == SUBJECT
    assert f"{org.member.get_full_name()} tried to book 50.00 USD: GPU burst." in note.body
    assert (
        "'Eng hard' (2025-03-01 to 2025-03-31): limit 100.00 USD, spent 60.00 USD, remaining "
        "40.00 USD, 60.00 % used; this cost adds 50.00 USD" in note.body
    )
    assert note.link == f"/budgets/#budget-{hard.pk}"
    assert (note.payload["budget_id"], note.payload["submitted_by"]) == (hard.pk, "member")
    sent = sorted(m.to[0] for m in mail.outbox if m.subject == SUBJECT)
    assert sent == sorted([org.eng_owner.email, org.fin.email])

    # A second refusal in the same period tells nobody again.
    with pytest.raises(PermissionDenied):
        submit(org, "45.00", day=date(2025, 3, 28))
    assert blocked().count() == 2
    # The next period starts afresh: one notification per recipient again.
    submit(org, "90.00", day=APRIL)
    with pytest.raises(PermissionDenied):
        submit(org, "20.00", day=APRIL)
    assert blocked(recipient=org.eng_owner).count() == 2
    assert blocked(recipient=org.fin).count() == 2
    alerts = BudgetAlert.objects.filter(budget=hard, kind="block").order_by("period_start")
    assert [(a.period_start.date(), a.threshold, a.spend) for a in alerts] == [
        (date(2025, 3, 1), Decimal("1"), Decimal("60.00")),
        (date(2025, 4, 1), Decimal("1"), Decimal("90.00")),
    ]


def test_each_refusing_budget_is_reported_and_other_refusals_are_not(org, hard, eur_rates):
    unit_hard = BudgetFactory(
        name="Platform hard", organization_unit=org.platform, amount=Decimal("10"), action="block"
    )
    draft = submit(org, "150.00", draft=True).cost
    with pytest.raises(PermissionDenied):
        cost_services.cost_submit(cost=draft, acting_user=org.member)
    assert Cost.objects.get(pk=draft.pk).status == Cost.Status.DRAFT
    assert set(BudgetAlert.objects.filter(kind="block").values_list("budget", flat=True)) == {
        hard.pk,
        unit_hard.pk,
    }
    # The platform unit has no owner: finance hears of both budgets, the eng owner of one.
    assert blocked(recipient=org.fin).count() == 2
    assert blocked(recipient=org.eng_owner).count() == 1
    # A finance override, a refusal for another reason and a warning notify nobody.
    Notification.objects.all().delete()
    BudgetAlert.objects.all().delete()
    submit(org, "150.00", user=org.fin, override_reason="Capacity for the launch")
    BudgetFactory(name="Swiss", organization_unit=org.eng, currency="CHF", action="block")
    with pytest.raises(ValidationError):
        submit(org, "1.00")
    assert not blocked().exists() and not BudgetAlert.objects.exists()


def test_a_failing_notification_never_hides_the_refusal(org, hard, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("mail queue table is locked")

    monkeypatch.setattr(services, "notify", broken)
    with pytest.raises(PermissionDenied) as exc:
        submit(org, "150.00")
    assert exc.value.code == "budget_exceeded"
    assert not BudgetAlert.objects.exists()  # the report was rolled back, the refusal stands
    assert Cost.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_notification_outlives_the_refused_transaction(client_for):
    # Real commits: the submission's transaction rolls back, the notification's commits.
    from tests.costs.factories import category
    from tests.orgunits.factories import OrganizationUnitFactory, UserFactory

    category("other")
    owner, member = UserFactory(username="owner"), UserFactory(username="member")
    fin = finance_user(username="fin")
    unit = OrganizationUnitFactory(name="Team", code="team", owner=owner)
    from orgunits import services as org_services

    org_services.membership_set(user=member, unit=unit, role="member")
    BudgetFactory(name="Hard", organization_unit=unit, amount=Decimal("10.00"), action="block")
    resp = client_for(member).post(
        "/api/v1/costs/",
        {
            "amount": "11.00",
            "currency": "USD",
            "incurred_on": "2025-03-15",
            "organization_unit": unit.pk,
        },
        format="json",
    )
    assert resp.status_code == 403 and resp.json()["code"] == "budget_exceeded"
    assert not Cost.objects.exists()
    assert sorted(blocked().values_list("recipient__username", flat=True)) == ["fin", "owner"]
    assert {n.channel for n in blocked()} == {"email"}
    assert sorted(m.to[0] for m in mail.outbox) == sorted([owner.email, fin.email])


# --- approvals -----------------------------------------------------------------------------


@pytest.fixture
def approved_only(org):
    """Room for 100.00 of approved spend; pending costs do not count against it."""
    return BudgetFactory(
        name="Approved only",
        organization_unit=org.eng,
        amount=Decimal("100.00"),
        action="block",
        include_pending=False,
    )


def test_approval_cannot_push_an_approved_only_budget_over(org, approved_only):
    first, second = submit(org, "60.00").cost, submit(org, "60.00").cost  # both fit pending
    cost_services.cost_approve(cost=first, acting_user=org.eng_owner)
    with pytest.raises(PermissionDenied) as exc:
        cost_services.cost_approve(cost=second, acting_user=org.eng_approver)
    assert exc.value.code == "budget_exceeded"
    item = exc.value.extra["budgets"][0]
    assert (item["budget_id"], item["budget_spent"], item["budget_remaining"]) == (
        approved_only.pk,
        "60.00",
        "40.00",
    )
    assert (item["requested"], exc.value.extra["budget_utilization_pct"]) == ("60.00", "60.00")
    assert Cost.objects.get(pk=second.pk).status == Cost.Status.PENDING
    assert not CostEvent.objects.filter(cost=second, action="approve").exists()
    assert blocked(recipient=org.eng_owner).count() == 1  # told, like a refused submission
    # The rest of the room is still usable, to the cent; a rejection is never held.
    third, fourth = submit(org, "40.00").cost, submit(org, "5.00").cost
    cost_services.cost_approve(cost=third, acting_user=org.eng_owner)
    cost_services.cost_reject(cost=fourth, acting_user=org.eng_owner)
    assert Cost.objects.get(pk=fourth.pk).status == Cost.Status.REJECTED


def test_finance_approves_past_the_block_with_a_reason(org, approved_only):
    from budgets import selectors

    first, second = submit(org, "90.00").cost, submit(org, "30.00").cost
    cost_services.cost_approve(cost=first, acting_user=org.eng_owner)
    with pytest.raises(PermissionDenied) as exc:
        cost_services.cost_approve(cost=second, acting_user=org.eng_owner, override_reason="pls")
    assert exc.value.code == "override_not_allowed"
    approved = cost_services.cost_approve(
        cost=second, acting_user=org.fin, override_reason="Signed off by the CFO"
    )
    assert approved.status == Cost.Status.APPROVED
    event = CostEvent.objects.get(cost=second, action=CostEvent.Action.OVERRIDE)
    assert (event.comment, event.actor) == ("Signed off by the CFO", org.fin)
    assert event.changes["warnings"][0]["budget_id"] == approved_only.pk
    assert event.changes["warnings"][0]["overridden"] is True
    assert selectors.budget_utilization(approved_only, on=MARCH).actual == Decimal("120.00")


def test_budgets_counting_pending_costs_are_not_held_again_at_approval(org, hard):
    cost = submit(org, "100.00").cost  # fills the budget at submission
    assert cost_services.cost_approve(cost=cost, acting_user=org.eng_owner).status == "approved"


@pytest.mark.parametrize("prepared", [True, False])
def test_enforcement_statements_are_prepared_once_per_session(org, hard, settings, prepared):
    """Inside a submission the budget lock and the spend aggregate run as statements
    prepared on the session (planning them cost more than running them); with
    ``COSTTRACK_SUMMARY_PREPARED = False`` (a transaction pooler) they are sent plainly, and
    the verdicts are the same either way."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.COSTTRACK_SUMMARY_PREPARED = prepared
    submit(org, "30.00")
    with CaptureQueriesContext(connection) as ctx:
        submit(org, "30.00")
    statements = [q["sql"] for q in ctx.captured_queries]
    executed = [s.split("(")[0] for s in statements if s.startswith("EXECUTE costtrack_")]
    kinds = sorted({name.split("_")[1] for name in executed})
    assert kinds == (["budget", "spend", "summary"] if prepared else [])
    assert not any(s.startswith("PREPARE") for s in statements)  # the first submission did
    with pytest.raises(PermissionDenied) as refused:
        submit(org, "50.00")
    assert "spent 60.00 USD, remaining 40.00 USD" in refused.value.message
    assert Cost.objects.filter(status="pending").count() == 2
