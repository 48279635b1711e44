"""Two approvers deciding the same cost at the same moment, on two real connections."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from costs import services
from costs.models import Cost, CostEvent
from costtrack.core.exceptions import Conflict
from orgunits import services as org_services
from orgunits.models import Membership
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory


def decide_concurrently(cost_id, calls):
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, service, user):
        try:
            barrier.wait(timeout=10)
            cost = Cost.objects.get(pk=cost_id)
            service(cost=cost, acting_user=user, comment=f"by {user.username}")
            outcomes[index] = "ok"
        except Conflict:
            outcomes[index] = "conflict"
        except Exception as exc:  # pragma: no cover - reported by the assertion
            outcomes[index] = repr(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, service, user))
        for i, (service, user) in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second", ["approve", "reject"])
def test_two_deciders_exactly_one_wins(second):
    owner = UserFactory(username="race_owner")
    approver = UserFactory(username="race_approver")
    submitter = UserFactory(username="race_submitter")
    unit = OrganizationUnitFactory(name="Race", code="race", owner=owner)
    org_services.membership_set(user=approver, unit=unit, role=Membership.Role.APPROVER)
    org_services.membership_set(user=submitter, unit=unit, role=Membership.Role.MEMBER)
    cost = services.cost_create(
        submitted_by=submitter,
        amount=Decimal("42.00"),
        currency="USD",
        incurred_on=date(2025, 3, 1),
        organization_unit=unit,
    ).cost
    other = services.cost_approve if second == "approve" else services.cost_reject
    outcomes = decide_concurrently(cost.pk, [(services.cost_approve, owner), (other, approver)])
    assert sorted(outcomes) == ["conflict", "ok"], outcomes
    decided = Cost.objects.get(pk=cost.pk)
    winner = owner if outcomes[0] == "ok" else approver
    assert decided.decided_by == winner
    assert decided.decision_comment == f"by {winner.username}"
    decisions = CostEvent.objects.filter(cost=decided, action__in=["approve", "reject"])
    assert decisions.count() == 1
    assert decisions.get().actor == winner


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_retries_with_one_idempotency_key_create_one_cost():
    submitter = UserFactory(username="retry_submitter")
    unit = OrganizationUnitFactory(name="Retry", code="retry")
    org_services.membership_set(user=submitter, unit=unit, role=Membership.Role.MEMBER)
    barrier = threading.Barrier(2)
    results = [None, None]

    def run(index):
        try:
            barrier.wait(timeout=10)
            result = services.cost_create(
                submitted_by=submitter,
                amount=Decimal("5.00"),
                currency="USD",
                incurred_on=date(2025, 3, 1),
                organization_unit=unit,
                idempotency_key="retry-1",
            )
            results[index] = (result.cost.pk, result.created)
        except Exception as exc:  # pragma: no cover - reported by the assertion
            results[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert Cost.objects.filter(submitted_by=submitter).count() == 1
    cost_id = Cost.objects.get(submitted_by=submitter).pk
    assert sorted(results, key=lambda r: not r[1]) == [(cost_id, True), (cost_id, False)]
