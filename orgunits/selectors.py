"""Reads of the organisation tree, and what each user may see of it.

Every "unit and its subtree" condition is one range on django-mptt's ``tree_id``/``lft``/``rght``.
Finance and auditors see everything; anyone else sees the subtrees of the units they belong to
or own.
"""

from collections.abc import Iterable
from datetime import date

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from costtrack.core.roles import sees_everything

from .models import Delegation, Entity, Membership, OrganizationUnit, Resource

User = get_user_model()

TreeRange = tuple[int, int, int]


def subtree_q(ranges: Iterable[TreeRange], prefix: str = "") -> Q:
    """A condition matching rows whose unit (reached through ``prefix``) lies in any subtree.

    ``ranges`` are ``(tree_id, lft, rght)`` of subtree roots. No ranges matches nothing.
    """
    p = f"{prefix}__" if prefix else ""
    condition = Q(pk__in=[])
    for tree_id, lft, rght in ranges:
        condition |= Q(**{f"{p}tree_id": tree_id, f"{p}lft__gte": lft, f"{p}rght__lte": rght})
    return condition


def unit_range(unit: OrganizationUnit) -> TreeRange:
    return (unit.tree_id, unit.lft, unit.rght)


def user_root_ranges(user) -> list[TreeRange]:
    """The subtree roots a user belongs to (member, approver or owner), cached on the user."""
    if user is None or not user.is_authenticated:
        return []
    cached = getattr(user, "_costtrack_unit_ranges", None)
    if cached is None:
        rows = (
            OrganizationUnit.objects.filter(Q(memberships__user=user) | Q(owner=user))
            .values_list("tree_id", "lft", "rght")
            .distinct()
        )
        cached = list(rows)
        user._costtrack_unit_ranges = cached
    return cached


def unit_list(*, user) -> QuerySet[OrganizationUnit]:
    """Units the user may see, with owner and parent loaded, in tree order."""
    qs = OrganizationUnit.objects.select_related("owner", "parent")
    if not sees_everything(user):
        qs = qs.filter(subtree_q(user_root_ranges(user)))
    return qs.order_by("tree_id", "lft")


def entity_list(*, user) -> QuerySet[Entity]:
    qs = Entity.objects.select_related("owner", "organization_unit")
    if not sees_everything(user):
        qs = qs.filter(subtree_q(user_root_ranges(user), "organization_unit"))
    return qs.order_by("name", "id")


def resource_list(*, user) -> QuerySet[Resource]:
    qs = Resource.objects.select_related("owner", "organization_unit", "entity")
    if not sees_everything(user):
        qs = qs.filter(subtree_q(user_root_ranges(user), "organization_unit"))
    return qs.order_by("provider", "name", "id")


def membership_list(*, user) -> QuerySet[Membership]:
    """Memberships of the units the user may see."""
    qs = Membership.objects.select_related("user", "unit")
    if not sees_everything(user):
        qs = qs.filter(subtree_q(user_root_ranges(user), "unit"))
    return qs


def delegation_list(*, user) -> QuerySet[Delegation]:
    """Delegations the user may see: all for finance and auditors, else the ones they give
    or hold (who stands in for whom is the two people's business)."""
    qs = Delegation.objects.select_related("delegator", "delegate")
    if not sees_everything(user):
        qs = qs.filter(Q(delegator=user) | Q(delegate=user))
    return qs


def unit_descendants(unit: OrganizationUnit, *, include_self: bool = True) -> QuerySet:
    return unit.get_descendants(include_self=include_self)


def unit_ancestors(unit: OrganizationUnit, *, include_self: bool = True) -> QuerySet:
    """Ancestors from the unit itself (first) up to the root (last)."""
    return unit.get_ancestors(ascending=True, include_self=include_self)


def unit_is_visible(*, user, unit: OrganizationUnit) -> bool:
    if sees_everything(user):
        return True
    return any(
        t == unit.tree_id and lft <= unit.lft and unit.rght <= rght
        for t, lft, rght in user_root_ranges(user)
    )


def approver_member_ids(unit: OrganizationUnit) -> set[int]:
    """Users with the approver role on the unit or any of its ancestors."""
    return set(
        Membership.objects.filter(
            role=Membership.Role.APPROVER,
            unit__tree_id=unit.tree_id,
            unit__lft__lte=unit.lft,
            unit__rght__gte=unit.rght,
        ).values_list("user_id", flat=True)
    )


def active_delegate_ids(*, delegator_ids: Iterable[int], on: date | None = None) -> set[int]:
    """Users to whom any of ``delegator_ids`` has delegated approval on the given day."""
    on = on or timezone.localdate()
    return set(
        Delegation.objects.filter(
            delegator_id__in=list(delegator_ids), start_date__lte=on, end_date__gte=on
        ).values_list("delegate_id", flat=True)
    )


def active_delegators_of(*, user, on: date | None = None) -> set[int]:
    """Users who have delegated approval to ``user`` on the given day."""
    on = on or timezone.localdate()
    return set(
        Delegation.objects.filter(delegate=user, start_date__lte=on, end_date__gte=on).values_list(
            "delegator_id", flat=True
        )
    )
