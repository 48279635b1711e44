from datetime import date
from decimal import Decimal

import pytest

from costs import services
from costs.models import Cost, CostEvent
from costtrack.core.exceptions import Conflict, PermissionDenied

pytestmark = pytest.mark.django_db


def create(org, **kw):
    params = {
        "submitted_by": org.member,
        "amount": Decimal("120.50"),
        "currency": "USD",
        "incurred_on": date(2025, 3, 10),
        "organization_unit": org.platform,
    }
    params.update(kw)
    return services.cost_create(**params)


def actions(cost):
    return list(CostEvent.objects.filter(cost=cost).values_list("action", flat=True))


def test_create_pending_routes_to_unit_owner_and_writes_events(org):
    result = create(org)
    cost = result.cost
    assert cost.status == Cost.Status.PENDING
    assert cost.approver == org.eng_owner
    assert cost.amount_reporting == Decimal("120.50")
    assert cost.category.slug == "other"
    assert result.warnings == [] and result.created
    assert actions(cost) == ["create", "submit"]


def test_approve_and_second_approve_conflicts(org):
    cost = create(org).cost
    cost = services.cost_approve(cost=cost, acting_user=org.eng_owner, comment="ok")
    assert cost.status == Cost.Status.APPROVED
    assert cost.decided_by == org.eng_owner
    with pytest.raises(Conflict):
        services.cost_approve(cost=cost, acting_user=org.fin)
    assert actions(cost) == ["create", "submit", "approve"]


def test_submitter_cannot_approve(org):
    cost = create(org, submitted_by=org.eng_owner).cost
    assert cost.approver == org.ceo
    with pytest.raises(PermissionDenied):
        services.cost_approve(cost=cost, acting_user=org.eng_owner)
