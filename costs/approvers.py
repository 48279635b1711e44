"""Who approves a cost, and who may decide it (SPEC 2.2).

The resolved approver is the first owner up the chain *resource → entity → unit → nearest
ancestor unit with an owner*, skipping the submitter (nobody approves their own cost),
inactive users and auditors (who change nothing). When nobody is left, ``None`` means the
``finance`` group decides.

Besides the resolved approver, an active delegate of the approver, any ``approver`` member of
the cost's unit or an ancestor, and finance may decide, but never the submitter.
"""

from collections.abc import Iterable
from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Q
from django.utils import timezone

from costtrack.core.roles import AUDITOR, is_finance, is_read_only
from orgunits.models import Delegation, Entity, Membership, OrganizationUnit, Resource
from orgunits.selectors import active_delegate_ids, approver_member_ids

from .models import Cost


def _unit_owners(unit: OrganizationUnit) -> list:
    """The owners of the unit and its ancestors, nearest first, each marked with whether it
    is an auditor: one hand-written query, as it runs inside every submission (the ORM's
    query building cost more than the query)."""
    user = get_user_model()
    groups, group = user.groups.through._meta.db_table, Group._meta.db_table
    sql = (
        f"SELECT u.*, EXISTS (SELECT 1 FROM {groups} g JOIN {group} n ON n.id = g.group_id "  # noqa: S608  # nosec B608
        "WHERE g.user_id = u.id AND n.name = %s) AS owner_audits "
        f"FROM {OrganizationUnit._meta.db_table} o JOIN {user._meta.db_table} u "
        "ON u.id = o.owner_id WHERE o.tree_id = %s AND o.lft <= %s AND o.rght >= %s "
        "ORDER BY o.lft DESC"
    )
    owners = list(user.objects.raw(sql, [AUDITOR, unit.tree_id, unit.lft, unit.rght]))
    for owner in owners:
        owner._costtrack_auditor = bool(owner.owner_audits)
    return owners


def approver_chain(
    *,
    resource: Resource | None,
    entity: Entity | None,
    organization_unit: OrganizationUnit,
) -> list:
    """The owners in resolution order (duplicates and empty owners removed).

    The entity is the cost's own, else the resource's. Runs one query for the unit's
    ancestors (with their owners) besides loading the owners of resource and entity.
    """
    chain = []
    if resource is not None and resource.owner_id:
        chain.append(resource.owner)
    entity = entity or (resource.entity if resource is not None else None)
    if entity is not None and entity.owner_id:
        chain.append(entity.owner)
    for owner in _unit_owners(organization_unit):
        chain.append(owner)
    seen: set[int] = set()
    unique = []
    for user in chain:
        if user.pk not in seen:
            seen.add(user.pk)
            unique.append(user)
    return unique


def _read_only(user) -> bool:
    known = getattr(user, "_costtrack_auditor", None)
    return is_read_only(user) if known is None else known


def resolve_approver(
    *,
    submitted_by,
    resource: Resource | None = None,
    entity: Entity | None = None,
    organization_unit: OrganizationUnit,
):
    """The user who should approve such a cost, or ``None`` when finance decides."""
    for owner in approver_chain(
        resource=resource, entity=entity, organization_unit=organization_unit
    ):
        if owner.pk != submitted_by.pk and owner.is_active and not _read_only(owner):
            return owner
    return None


def approver_for(cost: Cost):
    """``resolve_approver`` for an existing cost."""
    return resolve_approver(
        submitted_by=cost.submitted_by,
        resource=cost.resource,
        entity=cost.entity,
        organization_unit=cost.organization_unit,
    )


def decider_ids(cost: Cost, *, on: date | None = None) -> set[int]:
    """Ids of the users (besides finance) who may decide ``cost``: approver, their active
    delegates and approver members of the unit or an ancestor; never the submitter."""
    ids: set[int] = set()
    if cost.approver_id:
        ids.add(cost.approver_id)
        ids |= active_delegate_ids(delegator_ids=[cost.approver_id], on=on)
    ids |= approver_member_ids(cost.organization_unit)
    ids.discard(cost.submitted_by_id)
    return ids


def can_decide(user, cost: Cost, *, on: date | None = None) -> bool:
    """May ``user`` approve or reject ``cost``? (Whatever its status; services check that.)
    Never an auditor, even one who owns the unit or is an approver member of it."""
    if user is None or not user.is_authenticated or not user.is_active or is_read_only(user):
        return False
    if user.pk == cost.submitted_by_id:
        return False
    if is_finance(user) or user.pk == cost.approver_id:
        return True
    return user.pk in decider_ids(cost, on=on or timezone.localdate())


def deciders_of(costs: Iterable[Cost], *, on: date | None = None) -> dict[int, list]:
    """``{cost id: [user, ...]}``: for each cost, who may decide it besides finance (as
    ``decider_ids``: the resolved approver, their active delegates on ``on`` and the approver
    members of the unit or an ancestor; never the submitter), resolved approver first, then
    by name. An empty list means finance decides. Two queries for any number of costs, each
    cost's ``organization_unit`` and ``approver`` loaded."""
    costs = list(costs)
    on = on or timezone.localdate()
    if not costs:
        return {}
    units = {c.organization_unit_id: c.organization_unit for c in costs}
    ancestors = Q(pk__in=[])
    for unit in units.values():
        ancestors |= Q(
            unit__tree_id=unit.tree_id, unit__lft__lte=unit.lft, unit__rght__gte=unit.rght
        )
    members = list(
        Membership.objects.filter(ancestors, role=Membership.Role.APPROVER).select_related(
            "user", "unit"
        )
    )
    approver_ids = {c.approver_id for c in costs if c.approver_id}
    delegations = list(
        Delegation.objects.filter(
            delegator_id__in=approver_ids, start_date__lte=on, end_date__gte=on
        ).select_related("delegate")
        if approver_ids
        else []
    )
    out: dict[int, list] = {}
    for cost in costs:
        unit = units[cost.organization_unit_id]
        people = {}
        for m in members:
            if m.unit.tree_id == unit.tree_id and m.unit.lft <= unit.lft <= m.unit.rght:
                people[m.user_id] = m.user
        for d in delegations:
            if d.delegator_id == cost.approver_id:
                people[d.delegate_id] = d.delegate
        people.pop(cost.approver_id, None)
        people.pop(cost.submitted_by_id, None)
        ordered = sorted(people.values(), key=lambda u: u.get_full_name() or u.username)
        if cost.approver_id and cost.approver_id != cost.submitted_by_id:
            ordered.insert(0, cost.approver)
        out[cost.pk] = ordered
    return out
