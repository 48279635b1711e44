"""Reads of the organisation and what each user may see of it."""

from datetime import date

import pytest

from orgunits import selectors, services
from orgunits.models import Membership, OrganizationUnit
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory

pytestmark = pytest.mark.django_db


def codes(qs):
    return [u.code for u in qs]


def test_finance_and_auditor_see_every_unit(org):
    for role in ("finance", "auditor"):
        assert codes(selectors.unit_list(user=org.users[role])) == [
            "acme",
            "unit-a",
            "unit-a1",
            "unit-b",
        ]


@pytest.mark.parametrize("role", ["member", "approver", "owner"])
def test_unit_roles_see_their_subtree_in_tree_order(org, role):
    user = org.users[role]
    assert codes(selectors.unit_list(user=user)) == ["unit-a", "unit-a1"]
    assert [e.name for e in selectors.entity_list(user=user)] == ["ent-a1"]
    assert [r.name for r in selectors.resource_list(user=user)] == ["res-a1"]


def test_anonymous_and_unaffiliated_users_see_nothing(org):
    for user in (org.users["anonymous"], UserFactory()):
        assert codes(selectors.unit_list(user=user)) == []
        assert list(selectors.resource_list(user=user)) == []
        assert list(selectors.entity_list(user=user)) == []


def test_membership_in_two_subtrees_sees_both(org):
    user = UserFactory()
    services.membership_set(user=user, unit=org.a1, role=Membership.Role.MEMBER)
    services.membership_set(user=user, unit=org.b, role=Membership.Role.MEMBER)
    assert codes(selectors.unit_list(user=user)) == ["unit-a1", "unit-b"]
    assert {r.name for r in selectors.resource_list(user=user)} == {"res-a1", "res-b"}


def test_subtree_q_without_ranges_matches_nothing(org):
    assert not OrganizationUnit.objects.filter(selectors.subtree_q([])).exists()


def test_unit_is_visible(org):
    member = org.users["member"]
    assert selectors.unit_is_visible(user=member, unit=org.a1)
    assert not selectors.unit_is_visible(user=member, unit=org.b)
    assert not selectors.unit_is_visible(user=member, unit=org.root)
    assert selectors.unit_is_visible(user=org.users["auditor"], unit=org.b)


def test_visibility_follows_a_move(org):
    member = org.users["member"]
    services.unit_move(unit=org.b, new_parent=org.a)
    # ranges are cached per user object; a new request loads a fresh user
    fresh_member = type(member).objects.get(pk=member.pk)
    assert "unit-b" in codes(selectors.unit_list(user=fresh_member))


def test_ancestors_and_descendants(org):
    assert codes(selectors.unit_ancestors(org.a1)) == ["unit-a1", "unit-a", "acme"]
    assert codes(selectors.unit_ancestors(org.a1, include_self=False)) == ["unit-a", "acme"]
    assert codes(selectors.unit_descendants(org.root, include_self=False)) == [
        "unit-a",
        "unit-a1",
        "unit-b",
    ]


def test_approver_member_ids_include_ancestors_approvers_only(org):
    approver_a = org.users["approver"]
    b_approver = UserFactory()
    services.membership_set(user=b_approver, unit=org.b, role=Membership.Role.APPROVER)
    assert selectors.approver_member_ids(org.a1) == {approver_a.pk}
    assert selectors.approver_member_ids(org.b) == {b_approver.pk}
    assert selectors.approver_member_ids(org.root) == set()


def test_active_delegations_are_inclusive_of_both_ends():
    alice, bob = UserFactory(), UserFactory()
    services.delegation_create(
        delegator=alice, delegate=bob, start_date=date(2025, 3, 1), end_date=date(2025, 3, 7)
    )
    for day, expected in [(1, {bob.pk}), (7, {bob.pk}), (8, set())]:
        on = date(2025, 3, day)
        assert selectors.active_delegate_ids(delegator_ids=[alice.pk], on=on) == expected
    assert selectors.active_delegators_of(user=bob, on=date(2025, 3, 4)) == {alice.pk}
    assert selectors.active_delegators_of(user=bob, on=date(2025, 2, 28)) == set()


def test_unit_list_query_count_is_constant(org, django_assert_num_queries):
    for n in range(30):
        OrganizationUnitFactory(code=f"t{n}", parent=org.a1, owner=UserFactory())
    member = type(org.users["member"]).objects.get(pk=org.users["member"].pk)
    # groups + membership ranges + the list itself; owners and parents come joined
    with django_assert_num_queries(3):
        units = list(selectors.unit_list(user=member))
        assert all(u.owner is not None for u in units if u.code.startswith("t"))
        assert {u.parent.code for u in units} == {"acme", "unit-a", "unit-a1"}
