"""Enforcement under concurrency on PostgreSQL: twenty submitters at once, each on its own
connection, against a ``block`` budget with room for exactly ten of their costs."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from budgets import selectors
from budgets.models import Budget
from costs import services as cost_services
from costs.models import Cost, ExchangeRate
from costtrack.core.exceptions import PermissionDenied
from orgunits import services as org_services
from tests.budgets.factories import BudgetFactory
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
SUBMITTERS = 20
MARCH = date(2025, 3, 15)


def run_in_parallel(work):
    """Run ``work(i)`` in SUBMITTERS threads released together; return their results."""
    barrier = threading.Barrier(SUBMITTERS)
    results: list = [None] * SUBMITTERS

    def target(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # recorded and asserted on below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(SUBMITTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.fixture
def team():
    root = OrganizationUnitFactory(name="Root", code="root")
    unit = OrganizationUnitFactory(name="Team", code="team", parent=root)
    users = [UserFactory(username=f"submitter{i}") for i in range(SUBMITTERS)]
    for user in users:
        org_services.membership_set(user=user, unit=unit, role="member")
    return root, unit, users


def assert_never_overspent(budget: Budget, expected_spent: Decimal):
    util = selectors.budget_utilization(budget, on=MARCH)
    assert util.actual + util.committed == expected_spent
    assert util.actual + util.committed <= budget.amount


def test_twenty_api_submitters_against_room_for_ten(team):
    root, unit, users = team
    budget = BudgetFactory(
        organization_unit=root, amount=Decimal("100.00"), currency="USD", action="block"
    )
    # Two more matching budgets with plenty of room: locks on several rows, in id order.
    BudgetFactory(organization_unit=unit, amount=Decimal("100000"), action="block")
    BudgetFactory(organization_unit=root, amount=Decimal("100000"), action="warn")

    def submit(i):
        client = APIClient()
        client.force_authenticate(users[i])
        return client.post(
            "/api/v1/costs/",
            {
                "amount": "10.00",
                "currency": "USD",
                "incurred_on": MARCH.isoformat(),
                "organization_unit": unit.pk,
                "description": f"cost {i}",
            },
            format="json",
        )

    responses = run_in_parallel(submit)
    codes = sorted(getattr(r, "status_code", repr(r)) for r in responses)
    assert codes == [201] * 10 + [403] * 10, codes
    refused = [r.json() for r in responses if r.status_code == 403]
    assert {body["code"] for body in refused} == {"budget_exceeded"}
    assert {body["budgets"][0]["budget_id"] for body in refused} == {budget.pk}
    assert {body["budget_remaining"] for body in refused} == {"0.00"}
    assert Cost.objects.filter(status=Cost.Status.PENDING).count() == 10
    assert_never_overspent(budget, Decimal("100.00"))


def test_twenty_submitters_in_another_currency(team):
    root, unit, users = team
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 1, 1), rate=Decimal("1.20"))
    # 10.00 EUR at 1.20 = 12.00 USD: a 120 USD budget has room for exactly ten.
    budget = BudgetFactory(
        organization_unit=unit, amount=Decimal("120.00"), currency="USD", action="block"
    )
    drafts = [
        cost_services.cost_create(
            submitted_by=users[i],
            amount=Decimal("10.00"),
            currency="EUR",
            incurred_on=MARCH,
            organization_unit=unit,
            draft=True,
        ).cost
        for i in range(SUBMITTERS)
    ]

    def submit(i):
        return cost_services.cost_submit(cost=drafts[i], acting_user=users[i])

    results = run_in_parallel(submit)
    accepted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, PermissionDenied)]
    assert len(accepted) == 10 and len(refused) == 10, results
    assert {r.code for r in refused} == {"budget_exceeded"}
    assert Cost.objects.filter(status=Cost.Status.PENDING).count() == 10
    assert Cost.objects.filter(status=Cost.Status.DRAFT).count() == 10
    assert_never_overspent(budget, Decimal("120.00"))


def test_twenty_approvers_against_room_for_ten(team):
    # Pending costs do not count against this budget, so all twenty are submitted; it is the
    # approvals, at once and each by another approver, that must stop at 100.00.
    root, unit, users = team
    approvers = [UserFactory(username=f"approver{i}") for i in range(SUBMITTERS)]
    for approver in approvers:
        org_services.membership_set(user=approver, unit=unit, role="approver")
    budget = BudgetFactory(
        organization_unit=root,
        amount=Decimal("100.00"),
        currency="USD",
        action="block",
        include_pending=False,
    )
    pending = [
        cost_services.cost_create(
            submitted_by=users[i],
            amount=Decimal("10.00"),
            currency="USD",
            incurred_on=MARCH,
            organization_unit=unit,
        ).cost
        for i in range(SUBMITTERS)
    ]

    def approve(i):
        return cost_services.cost_approve(cost=pending[i].pk, acting_user=approvers[i])

    results = run_in_parallel(approve)
    approved = [r for r in results if isinstance(r, Cost)]
    refused = [r for r in results if isinstance(r, PermissionDenied)]
    assert len(approved) == 10 and len(refused) == 10, results
    assert {r.code for r in refused} == {"budget_exceeded"}
    assert Cost.objects.filter(status=Cost.Status.APPROVED).count() == 10
    assert Cost.objects.filter(status=Cost.Status.PENDING).count() == 10
    util = selectors.budget_utilization(budget, on=MARCH)
    assert util.actual == Decimal("100.00")
