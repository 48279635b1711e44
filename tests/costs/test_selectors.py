from datetime import timedelta

import pytest
from django.utils import timezone

from costs import selectors
from costtrack.core.exceptions import NotFound
from orgunits import services as org_services
from tests.costs.factories import make_cost

pytestmark = pytest.mark.django_db


def pending(org, **kw):
    kw.setdefault("organization_unit", org.platform)
    return make_cost(status="pending", submitted_by=org.member, **kw)


def test_cost_list_scoping(org):
    cost = pending(org)
    sales_cost = make_cost(
        status="pending", submitted_by=org.sales_member, organization_unit=org.sales
    )
    visible = {
        name: set(selectors.cost_list(user=getattr(org, name)))
        for name in ("member", "eng_owner", "eng_approver", "ceo", "sales_member", "aud", "fin")
    }
    assert visible["member"] == {cost}
    assert visible["eng_owner"] == {cost}
    assert visible["eng_approver"] == {cost}
    assert visible["ceo"] == {cost, sales_cost}  # owner of the root sees the whole tree
    assert visible["sales_member"] == {sales_cost}
    assert visible["aud"] == visible["fin"] == {cost, sales_cost}


def test_resource_owner_outside_the_unit_sees_the_cost_routed_to_them(org):
    cost = pending(org, resource=org.resource)
    assert cost.approver == org.res_owner
    assert set(selectors.cost_list(user=org.res_owner)) == {cost}


def test_delegate_sees_only_while_the_delegation_is_active(org):
    cost = pending(org)
    today = timezone.localdate()
    delegation = org_services.delegation_create(
        delegator=org.eng_owner,
        delegate=org.delegate,
        start_date=today - timedelta(days=5),
        end_date=today - timedelta(days=1),
    )
    assert list(selectors.cost_list(user=org.delegate)) == []
    org_services.delegation_update(delegation=delegation, end_date=today)
    assert list(selectors.cost_list(user=org.delegate)) == [cost]


def test_cost_detail_prefetches_events(org, django_assert_max_num_queries):
    cost = make_cost(status="approved", submitted_by=org.member, organization_unit=org.platform)
    with django_assert_max_num_queries(5):
        detail = selectors.cost_detail(user=org.member, cost_id=cost.pk)
        trail = [(e.action, e.actor.username) for e in detail.events.all()]
    assert [a for a, _ in trail] == ["create", "submit", "approve"]
    with pytest.raises(NotFound):
        selectors.cost_detail(user=org.sales_member, cost_id=cost.pk)
    with pytest.raises(NotFound):
        selectors.cost_get(user=org.member, cost_id=987654)


def test_cost_list_with_filters_dict(org):
    cost = pending(org, tags={"env": "prod"})
    pending(org, tags={"env": "dev"})
    rows = selectors.cost_list(user=org.member, filters={"tags": "env:prod", "status": "pending"})
    assert list(rows) == [cost]


def test_category_paths(org):
    paths = selectors.category_paths()
    by_path = set(paths.values())
    assert {"Expenses:Cloud:Compute", "Expenses:AI:LLM inference", "Expenses:Other"} <= by_path
