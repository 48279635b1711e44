from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from costs import services
from costs.approvers import can_decide, resolve_approver
from costs.selectors import costs_awaiting
from costtrack.core.exceptions import PermissionDenied
from orgunits import services as org_services
from orgunits.models import Membership
from tests.costs.factories import clone_costs
from tests.orgunits.factories import EntityFactory, ResourceFactory, UserFactory, finance_user

pytestmark = pytest.mark.django_db


def resolve(org, submitter=None, **kw):
    kw.setdefault("organization_unit", org.platform)
    return resolve_approver(submitted_by=submitter or org.member, **kw)


def test_resource_owner_first(org):
    assert resolve(org, resource=org.resource) == org.res_owner


def test_entity_owner_when_resource_has_no_owner(org):
    resource = ResourceFactory(organization_unit=org.platform, entity=org.entity, owner=None)
    assert resolve(org, resource=resource) == org.ent_owner
    assert resolve(org, entity=org.entity) == org.ent_owner


def test_unit_owner_when_no_resource_or_entity_owner(org):
    entity = EntityFactory(organization_unit=org.eng, owner=None)
    assert resolve(org, entity=entity, organization_unit=org.eng) == org.eng_owner


def test_nearest_ancestor_owner_when_unit_has_none(org):
    assert org.platform.owner is None
    assert resolve(org) == org.eng_owner


def test_finance_when_nobody_owns_the_chain(org):
    from tests.orgunits.factories import OrganizationUnitFactory

    orphan = OrganizationUnitFactory(name="Orphan", code="orphan")
    assert resolve(org, organization_unit=orphan) is None


def test_submitter_is_skipped_to_next_owner_up(org):
    assert resolve(org, submitter=org.res_owner, resource=org.resource) == org.ent_owner
    assert resolve(org, submitter=org.ent_owner, entity=org.entity) == org.eng_owner
    assert resolve(org, submitter=org.eng_owner) == org.ceo
    assert resolve(org, submitter=org.ceo, organization_unit=org.root) is None


def test_inactive_owner_is_skipped(org):
    org.eng_owner.is_active = False
    org.eng_owner.save()
    assert resolve(org) == org.ceo


def test_an_auditor_owner_is_skipped(org):
    from django.contrib.auth.models import Group

    auditors = Group.objects.get(name="auditor")
    org.res_owner.groups.add(auditors)
    org.eng_owner.groups.add(auditors)
    assert resolve(org, resource=org.resource) == org.ent_owner
    assert resolve(org) == org.ceo


def pending_cost(org, submitter=None, **kw):
    kw.setdefault("organization_unit", org.platform)
    return services.cost_create(
        submitted_by=submitter or org.member,
        amount=Decimal("10.00"),
        currency="USD",
        incurred_on=date(2025, 3, 1),
        **kw,
    ).cost


def delegate_to(org, start, end, delegator=None):
    return org_services.delegation_create(
        delegator=delegator or org.eng_owner, delegate=org.delegate, start_date=start, end_date=end
    )


def test_who_may_decide(org):
    cost = pending_cost(org)
    assert can_decide(org.eng_owner, cost)  # resolved approver
    assert can_decide(org.eng_approver, cost)  # approver member of an ancestor
    assert can_decide(org.fin, cost)
    assert not can_decide(org.member, cost)  # submitter
    assert not can_decide(org.sales_owner, cost)
    assert not can_decide(org.aud, cost)
    assert not can_decide(org.ceo, cost)  # owner further up is not an approver
    assert not can_decide(org.delegate, cost)


@pytest.mark.parametrize(
    ("start", "end", "allowed"),
    [(-1, 1, True), (0, 0, True), (-10, -1, False), (1, 10, False)],
    ids=["active", "today-only", "expired", "future"],
)
def test_delegation_window(org, start, end, allowed):
    today = timezone.localdate()
    delegate_to(org, today + timedelta(days=start), today + timedelta(days=end))
    cost = pending_cost(org)
    assert can_decide(org.delegate, cost) is allowed
    assert (cost in costs_awaiting(org.delegate)) is allowed
    if allowed:
        cost = services.cost_approve(cost=cost, acting_user=org.delegate, comment="for Eve")
        assert cost.decided_by == org.delegate
    else:
        with pytest.raises(PermissionDenied):
            services.cost_approve(cost=cost, acting_user=org.delegate)


def test_delegate_who_is_submitter_cannot_decide(org):
    today = timezone.localdate()
    delegate_to(org, today, today)
    org_services.membership_set(user=org.delegate, unit=org.platform, role="member")
    cost = pending_cost(org, submitter=org.delegate)
    assert not can_decide(org.delegate, cost)
    assert cost not in costs_awaiting(org.delegate)


def test_approver_member_who_submits_cannot_approve_own(org):
    cost = pending_cost(org, submitter=org.eng_approver)
    assert cost.approver == org.eng_owner
    with pytest.raises(PermissionDenied):
        services.cost_approve(cost=cost, acting_user=org.eng_approver)
    assert services.cost_approve(cost=cost, acting_user=org.eng_owner).status == "approved"


def test_finance_submitter_cannot_approve_own(org):
    cost = pending_cost(org, submitter=org.fin)
    with pytest.raises(PermissionDenied):
        services.cost_approve(cost=cost, acting_user=org.fin)


def test_owner_submitting_routes_up_and_next_owner_approves(org):
    cost = pending_cost(org, submitter=org.eng_owner)
    assert cost.approver == org.ceo
    assert cost in costs_awaiting(org.ceo)
    assert cost not in costs_awaiting(org.eng_owner)
    assert services.cost_approve(cost=cost, acting_user=org.ceo).decided_by == org.ceo


def test_costs_awaiting_per_role(org):
    from tests.orgunits.factories import OrganizationUnitFactory

    mine = pending_cost(org)
    on_resource = pending_cost(org, resource=org.resource)
    orphan_unit = OrganizationUnitFactory(name="Orphan", code="orphan")
    to_finance = pending_cost(org, submitter=org.fin, organization_unit=orphan_unit)
    other_fin = finance_user()
    draft = services.cost_create(
        submitted_by=org.member,
        amount=Decimal("1"),
        currency="USD",
        incurred_on=date(2025, 3, 1),
        organization_unit=org.platform,
        draft=True,
    ).cost
    assert list(costs_awaiting(org.eng_owner)) == [mine]
    assert list(costs_awaiting(org.res_owner)) == [on_resource]
    assert set(costs_awaiting(org.eng_approver)) == {mine, on_resource}
    assert list(costs_awaiting(org.fin)) == []  # own cost never
    assert list(costs_awaiting(other_fin)) == [to_finance]
    assert list(costs_awaiting(org.member)) == []
    assert list(costs_awaiting(org.sales_owner)) == []
    assert draft not in costs_awaiting(org.eng_owner)


def test_costs_awaiting_runs_bounded_queries(org, django_assert_max_num_queries):
    clone_costs(pending_cost(org), 99)
    user = UserFactory()
    Membership.objects.create(user=user, unit=org.eng, role=Membership.Role.APPROVER)
    with django_assert_max_num_queries(4):
        rows = list(costs_awaiting(user))
        for cost in rows:
            str(cost.submitted_by), str(cost.category), str(cost.organization_unit)
    assert len(rows) == 100
