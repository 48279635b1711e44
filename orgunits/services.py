"""Every write to the organisation: units (tree writes under a lock), memberships,
delegations, entities and resources. Each service validates with ``full_clean()`` and
raises ``costtrack.core.exceptions`` errors that the API and admin turn into messages.
"""

from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError

from costtrack.core.db import advisory_xact_lock
from costtrack.core.exceptions import Conflict, ValidationError

from .models import Delegation, Entity, Membership, OrganizationUnit, Resource

TREE_LOCK = "orgunits.tree"

UNIT_FIELDS = {"name", "code", "owner", "description", "active"}
ENTITY_FIELDS = {"name", "kind", "owner", "organization_unit", "description", "tags"}
RESOURCE_FIELDS = {
    "provider",
    "provider_resource_id",
    "account",
    "region",
    "service",
    "name",
    "owner",
    "entity",
    "organization_unit",
    "tags",
}


def _apply(instance, fields: dict[str, Any], allowed: set[str]) -> list[str]:
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    changed = []
    for name, value in fields.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


@transaction.atomic
def unit_create(
    *,
    name: str,
    code: str,
    parent: OrganizationUnit | None = None,
    owner=None,
    description: str = "",
    active: bool = True,
    acting_user=None,
) -> OrganizationUnit:
    """Create a unit under ``parent`` (or as a new root).

    The tree is written under an advisory lock so concurrent inserts and moves never corrupt
    the nested-set numbering. Raises Django ``ValidationError`` for a duplicate code.
    """
    advisory_xact_lock(TREE_LOCK)
    if parent is not None:
        parent.refresh_from_db()
    unit = OrganizationUnit(
        name=name, code=code, parent=parent, owner=owner, description=description, active=active
    )
    unit.full_clean()
    unit.save()
    return unit


@transaction.atomic
def unit_update(*, unit: OrganizationUnit, acting_user=None, **fields) -> OrganizationUnit:
    """Change a unit's own fields; a new ``parent`` in ``fields`` moves it (see ``unit_move``)."""
    parent_given = "parent" in fields
    new_parent = fields.pop("parent", None)
    if parent_given and new_parent != unit.parent:
        unit = unit_move(unit=unit, new_parent=new_parent, acting_user=acting_user)
    changed = _apply(unit, fields, UNIT_FIELDS)
    if changed:
        unit.full_clean()
        unit.save()
    if "active" in changed and not unit.active:
        unit.get_descendants().update(active=False)
    return unit


@transaction.atomic
def unit_move(
    *, unit: OrganizationUnit, new_parent: OrganizationUnit | None, acting_user=None
) -> OrganizationUnit:
    """Move a unit and its subtree under ``new_parent`` (``None`` makes it a root).

    Refuses a move under the unit itself or one of its descendants, which would make a cycle.
    """
    advisory_xact_lock(TREE_LOCK)
    unit.refresh_from_db()
    if new_parent is not None:
        new_parent.refresh_from_db()
        if new_parent.pk == unit.pk or new_parent.is_descendant_of(unit):
            raise ValidationError(
                f"Cannot move '{unit.code}' under '{new_parent.code}': "
                "a unit cannot be moved under itself or one of its descendants.",
                field="parent",
                code="tree_cycle",
            )
        unit.move_to(new_parent, position="last-child")
    elif unit.parent_id is not None:
        unit.move_to(None)
    unit.refresh_from_db()
    return unit


@transaction.atomic
def unit_archive(*, unit: OrganizationUnit, acting_user=None) -> OrganizationUnit:
    """Deactivate a unit and its whole subtree. History stays; nothing is deleted."""
    unit.get_descendants(include_self=True).update(active=False)
    unit.refresh_from_db()
    return unit


@transaction.atomic
def membership_set(
    *, user, unit: OrganizationUnit, role: str = Membership.Role.MEMBER
) -> Membership:
    """Make ``user`` a member (or approver) of ``unit``; changing the role of an existing one."""
    membership, _ = Membership.objects.update_or_create(
        user=user, unit=unit, defaults={"role": role}
    )
    membership.full_clean()
    return membership


@transaction.atomic
def membership_remove(*, user, unit: OrganizationUnit) -> None:
    Membership.objects.filter(user=user, unit=unit).delete()


@transaction.atomic
def delegation_create(
    *, delegator, delegate, start_date: date, end_date: date, reason: str = ""
) -> Delegation:
    """Let ``delegate`` approve for ``delegator`` from ``start_date`` to ``end_date`` inclusive."""
    if delegator.pk == delegate.pk:
        raise ValidationError("Nobody can delegate to themselves.", field="delegate")
    if end_date < start_date:
        raise ValidationError("The end date is before the start date.", field="end_date")
    delegation = Delegation(
        delegator=delegator,
        delegate=delegate,
        start_date=start_date,
        end_date=end_date,
        reason=reason,
    )
    delegation.full_clean()
    delegation.save()
    return delegation


@transaction.atomic
def entity_create(*, acting_user=None, **fields) -> Entity:
    entity = Entity()
    _apply(entity, fields, ENTITY_FIELDS)
    entity.full_clean()
    entity.save()
    return entity


@transaction.atomic
def entity_update(*, entity: Entity, acting_user=None, **fields) -> Entity:
    if _apply(entity, fields, ENTITY_FIELDS):
        entity.full_clean()
        entity.save()
    return entity


def _resource_defaults(resource: Resource) -> None:
    if resource.entity_id and not resource.organization_unit_id:
        resource.organization_unit_id = resource.entity.organization_unit_id


@transaction.atomic
def resource_create(*, acting_user=None, **fields) -> Resource:
    """Create a resource; its unit defaults to its entity's unit."""
    resource = Resource()
    _apply(resource, fields, RESOURCE_FIELDS)
    _resource_defaults(resource)
    resource.full_clean()
    resource.save()
    return resource


@transaction.atomic
def resource_update(*, resource: Resource, acting_user=None, **fields) -> Resource:
    if _apply(resource, fields, RESOURCE_FIELDS):
        _resource_defaults(resource)
        resource.full_clean()
        resource.save()
    return resource


def _delete(instance, label: str) -> None:
    try:
        with transaction.atomic():
            instance.delete()
    except ProtectedError as exc:
        raise Conflict(
            f"This {label} is still referenced ({len(exc.protected_objects)} record(s)) "
            "and cannot be deleted.",
            code="protected",
        ) from None


def entity_delete(*, entity: Entity, acting_user=None) -> None:
    _delete(entity, "entity")


def resource_delete(*, resource: Resource, acting_user=None) -> None:
    _delete(resource, "resource")
